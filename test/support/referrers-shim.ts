/**
 * TEST SHIM, NOT A REGISTRY: adds the OCI 1.1 referrers API in front of Debian's docker-registry
 * (distribution 2.8, which lacks it), so the referrers-API path of the client is exercised against a
 * real store. Every request goes to the real registry, which stores everything; the shim only
 *  - watches manifest PUTs: a manifest with a `subject` that the registry accepted (201) is remembered
 *    and the answer gets the `OCI-Subject` header, as a registry with the API sends;
 *  - answers GET /v2/<name>/referrers/<digest> from what it remembered (an image index, 200, empty when
 *    nothing refers to the digest), as the distribution spec describes.
 * It forgets everything when stopped. Plain HTTP; use --plain-http.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface ReferrersShim {
  host: string;
  url: string;
  /** GET .../referrers/... requests answered */
  referrersQueries: number;
  stop(): Promise<void>;
}

interface Referrer {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export async function startReferrersShim(upstreamUrl: string): Promise<ReferrersShim> {
  const upstream = new URL(upstreamUrl);
  const bySubject = new Map<string, Referrer[]>(); // `${repo}@${digest}` -> referrers
  let referrersQueries = 0;

  const body = async (req: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  const server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    const referrers = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})(\?.*)?$/.exec(path);
    if (referrers && req.method === 'GET') {
      referrersQueries++;
      req.resume();
      const manifests = bySubject.get(`${referrers[1]}@${referrers[2]}`) ?? [];
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      res.end(
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
      );
      return;
    }
    const manifestPut = req.method === 'PUT' ? /^\/v2\/(.+)\/manifests\/([^/?]+)$/.exec(path) : null;
    const payload = manifestPut ? await body(req) : undefined;
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: { ...req.headers, host: upstream.host },
      },
      (up) => {
        const headers = { ...up.headers };
        if (manifestPut && payload && up.statusCode === 201) {
          try {
            const doc = JSON.parse(payload.toString('utf8')) as Referrer & { subject?: { digest: string } };
            if (doc.subject?.digest) {
              const key = `${manifestPut[1]}@${doc.subject.digest}`;
              const list = bySubject.get(key) ?? [];
              const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
              if (!list.some((r) => r.digest === digest)) {
                list.push({
                  mediaType: doc.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
                  digest,
                  size: payload.length,
                  ...(doc.artifactType ? { artifactType: doc.artifactType } : {}),
                  ...(doc.annotations ? { annotations: doc.annotations } : {}),
                });
              }
              bySubject.set(key, list);
              headers['oci-subject'] = doc.subject.digest;
            }
          } catch {
            // not JSON: the registry accepted it, so it is not ours to judge
          }
        }
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    forward.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    if (payload) forward.end(payload);
    else req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    get referrersQueries() {
      return referrersQueries;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
