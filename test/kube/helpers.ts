import { ApiException, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';

/** The Kubernetes Status object carried by a client-node ApiException (its body may still be text). */
export function statusOf(e: unknown): { code?: number; reason?: string; message?: string; kind?: string } {
  if (!(e instanceof ApiException)) throw e;
  const body = typeof e.body === 'string' ? (JSON.parse(e.body) as object) : (e.body as object);
  return { code: e.code, ...body };
}

export async function expectStatus(p: Promise<unknown>): Promise<ReturnType<typeof statusOf>> {
  try {
    await p;
  } catch (e) {
    return statusOf(e);
  }
  throw new Error('expected the request to fail');
}

export function clients(kubeconfigPath: string): { kc: KubeConfig; objects: KubernetesObjectApi } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { kc, objects: KubernetesObjectApi.makeApiClient(kc) };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
/** A Kubernetes object read as plain JSON in assertions. */
export type Any = { apiVersion?: string; kind?: string; metadata: any; [k: string]: any };
/* eslint-enable @typescript-eslint/no-explicit-any */

export async function until<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** fetch() against the test server, trusting its CA (for requests the typed clients cannot make). */
export async function raw(
  server: { url: string; caCertPath: string | undefined },
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; json(): Promise<unknown>; text(): Promise<string> }> {
  const { Agent, fetch } = await import('undici');
  const { readFileSync } = await import('node:fs');
  const dispatcher = new Agent({ connect: server.caCertPath ? { ca: readFileSync(server.caCertPath) } : {} });
  return fetch(`${server.url}${path}`, { ...init, dispatcher });
}
