/**
 * /healthz (the process answers), /readyz (the first sync has finished) and /metrics (Prometheus text)
 * for the kubelet's probes and for scraping. Status details are JSON, without secrets. Served by our
 * own HTTP/1.1 server (src/http1/server.ts): in --images-file mode the agent then never loads node:http.
 */
import type { Registry } from '../metrics/index.js';
import { Http1Server } from '../http1/server.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: {
  host: string;
  port: number;
  ready: () => boolean;
  status: () => unknown;
  registry: Registry;
}): Promise<HealthServer> {
  const server = new Http1Server((req, res) => {
    const path = req.url.split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') json(200, { status: 'ok' });
    else if (path === '/readyz') {
      const ready = options.ready();
      json(ready ? 200 : 503, { ready, references: options.status() });
    } else if (path === '/metrics') {
      options.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(500).end(String((err as Error).message));
        });
    } else json(404, { error: `no such path ${path}; try /healthz, /readyz or /metrics` });
  });
  const address = await server.listen(options.port, options.host);
  return {
    port: address.port,
    close: () => {
      const closed = server.close();
      server.closeAllConnections();
      return closed;
    },
  };
}
