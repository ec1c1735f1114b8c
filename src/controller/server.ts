/** /healthz (process alive), /readyz (caches synced, or standing by for the lease) and /metrics. */
import type { Registry } from '../metrics/index.js';
import { Http1Server } from '../http1/server.js';

export async function startHealthServer(
  port: number,
  host: string,
  registry: Registry,
  ready: () => boolean,
): Promise<{ server: Http1Server; port: number }> {
  const server = new Http1Server((req, res) => {
    const path = req.url.split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500).end(err.message));
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  const address = await server.listen(port, host);
  return { server, port: address.port };
}
