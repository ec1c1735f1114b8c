/**
 * The REST surface: routes `/api/v1/...` and `/apis/<group>/<version>/...` to the operations, implements
 * list (selectors, limit/continue) and watch (resume by resourceVersion, 410 on compacted history,
 * selector transitions, bookmarks, timeoutSeconds) and the three patch formats.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { openApiGroupVersion, openApiIndex } from './openapi.js';
import { apiVersionOf, type DeleteOptions, type Operations } from './operations.js';
import { decodeProtobufObject } from './protobuf.js';
import { toTable, wantsTable } from './table.js';
import { jsonPatch, mergePatch, strategicMerge } from './patch.js';
import { typeKey, type ResourceType } from './resources.js';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  type Requirement,
} from './selectors.js';
import { ApiError, errors } from './status.js';
import type { ChangeEvent, Obj } from './store.js';

export interface Route {
  t: ResourceType;
  version: string;
  ns?: string;
  name?: string;
  sub: '' | 'status';
}

interface ListBody {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion: string; continue?: string };
  items: Obj[];
}

export interface HttpOptions {
  bookmarkIntervalMs: number;
  /** Consulted before every request; a number answers it with that HTTP status (fault injection). */
  fault?: (method: string, path: string) => number | undefined;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(raw);
  // CBOR and YAML clients get 415 and fall back to JSON, as against a server without them.
  if (type === 'application/cbor' || type === 'application/yaml')
    throw errors.unsupportedMediaType(type, 'application/json');
  const text = raw.toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

/** The object as a client of `version` sees it (CRD conversion strategy None: only apiVersion changes). */
function present(t: ResourceType, version: string, o: Obj): Obj {
  const apiVersion = apiVersionOf(t, version);
  return o.apiVersion === apiVersion ? o : { ...o, apiVersion };
}

export class Http {
  /** Open watch responses, so that tests can cut them and stop() can end them. */
  readonly watches = new Set<ServerResponse>();
  requestCount = 0;

  constructor(
    private readonly ops: Operations,
    private readonly opts: HttpOptions,
  ) {}

  route(segments: string[]): Route | { discovery: unknown } | undefined {
    const reg = this.ops.registry;
    let group: string;
    let version: string | undefined;
    let rest: string[];
    if (segments[0] === 'api') {
      if (segments.length === 1) return { discovery: 'api' };
      group = '';
      version = segments[1];
      rest = segments.slice(2);
    } else if (segments[0] === 'apis') {
      if (segments.length === 1) return { discovery: apiGroupList(reg) };
      group = segments[1]!;
      if (segments.length === 2) return { discovery: apiGroup(reg, group) };
      version = segments[2];
      rest = segments.slice(3);
    } else return undefined;
    if (!version) return undefined;
    if (rest.length === 0) return { discovery: apiResourceList(reg, group, version) };
    let ns: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && reg.get(group, version, rest[2]!)?.namespaced) {
      ns = rest[1];
      rest = rest.slice(2);
    }
    const t = reg.get(group, version, rest[0]!);
    if (!t || rest.length > 3) return undefined;
    const sub = rest[2];
    if (sub !== undefined && sub !== 'status') return undefined;
    if (sub === 'status' && !t.status) return undefined;
    return { t, version, ns, name: rest[1], sub: sub ?? '' };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requestCount++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    try {
      const injected = this.opts.fault?.(method, url.pathname);
      if (injected !== undefined) {
        send(
          res,
          injected,
          new ApiError(
            injected,
            injected === 429 ? 'TooManyRequests' : 'InternalError',
            `injected fault ${injected}`,
          ).toStatus(),
        );
        return;
      }
      const segments = url.pathname.split('/').filter((s) => s.length > 0);
      if (url.pathname === '/version') return send(res, 200, versionInfo);
      if (['/healthz', '/readyz', '/livez'].includes(url.pathname)) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (segments[0] === 'openapi' && segments[1] === 'v3' && method === 'GET') {
        const rest = segments.slice(2);
        if (rest.length === 0) return send(res, 200, openApiIndex(this.ops.registry));
        const [group, version] = rest[0] === 'api' ? ['', rest[1]] : [rest[1], rest[2]];
        const doc = openApiGroupVersion(this.ops.registry, group ?? '', version ?? '');
        if (!doc) throw errors.pathNotFound();
        return send(res, 200, doc);
      }
      const r = this.route(segments);
      if (!r) throw errors.pathNotFound();
      if ('discovery' in r) {
        if (method !== 'GET')
          throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
        const doc = r.discovery === 'api' ? apiVersions(req.headers.host ?? '') : r.discovery;
        if (!doc) throw errors.pathNotFound();
        return send(res, 200, doc);
      }
      await this.resource(r, method, url.searchParams, req, res);
    } catch (e) {
      const err =
        e instanceof ApiError
          ? e
          : new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
      if (!res.headersSent) send(res, err.code, err.toStatus());
      else res.end();
    }
  }

  private async resource(
    r: Route,
    method: string,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const { t, version, ns, name, sub } = r;
    const write = { dryRun: q.get('dryRun') === 'All', strict: q.get('fieldValidation') === 'Strict' };
    switch (method) {
      case 'GET': {
        if (name) {
          const o = present(t, version, this.ops.get(t, ns, name));
          if (!wantsTable(req.headers.accept)) return send(res, 200, o);
          return send(res, 200, toTable(t, version, [o], o.metadata.resourceVersion, q.get('includeObject')));
        }
        if (q.get('watch') === 'true' || q.get('watch') === '1')
          return this.watch(r, q, res, wantsTable(req.headers.accept));
        const list = this.list(r, q);
        if (!wantsTable(req.headers.accept)) return send(res, 200, list);
        return send(
          res,
          200,
          toTable(t, version, list.items, list.metadata.resourceVersion, q.get('includeObject')),
        );
      }
      case 'POST': {
        if (name)
          throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
        const created = this.ops.create(t, version, ns, await readBody(req), write);
        return send(res, 201, present(t, version, created));
      }
      case 'PUT': {
        if (!name)
          throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
        return send(
          res,
          200,
          present(t, version, this.ops.update(t, version, ns, name, await readBody(req), sub, write)),
        );
      }
      case 'PATCH': {
        if (!name)
          throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const body = await readBody(req);
        const current = present(t, version, this.ops.get(t, ns, name));
        let patched: unknown;
        if (type === 'application/merge-patch+json') patched = mergePatch(current, body);
        else if (type === 'application/json-patch+json') patched = jsonPatch(current, body);
        else if (type === 'application/strategic-merge-patch+json') {
          if (t.crd) throw errors.unsupportedMediaType(`${type} is not supported for custom resources`);
          patched = strategicMerge(current, body);
        } else throw errors.unsupportedMediaType(type);
        return send(
          res,
          200,
          present(t, version, this.ops.update(t, version, ns, name, patched, sub, write)),
        );
      }
      case 'DELETE': {
        const body = ((await readBody(req)) ?? {}) as DeleteOptions;
        const policy = q.get('propagationPolicy') ?? body.propagationPolicy;
        const opts: DeleteOptions = {
          ...body,
          propagationPolicy: policy as DeleteOptions['propagationPolicy'],
          dryRun: write.dryRun,
        };
        if (name) return send(res, 200, present(t, version, this.ops.delete(t, ns, name, opts)));
        const selected = this.select(r, q);
        const deleted = selected.map((o) => this.ops.delete(t, o.metadata.namespace, o.metadata.name, opts));
        return send(
          res,
          200,
          this.listOf(
            t,
            version,
            deleted.map((o) => present(t, version, o)),
            '',
          ),
        );
      }
      default:
        throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
  }

  private selectors(q: URLSearchParams): [Requirement[], Requirement[]] {
    return [parseLabelSelector(q.get('labelSelector')), parseFieldSelector(q.get('fieldSelector'))];
  }

  private select(r: Route, q: URLSearchParams): Obj[] {
    const [labels, fields] = this.selectors(q);
    return this.ops
      .list(r.t, r.ns)
      .filter((o) => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o));
  }

  private listOf(t: ResourceType, version: string, items: Obj[], cont: string): ListBody {
    return {
      kind: `${t.kind}List`,
      apiVersion: apiVersionOf(t, version),
      metadata: { resourceVersion: String(this.ops.store.rv), ...(cont ? { continue: cont } : {}) },
      items,
    };
  }

  /** limit/continue: the continue token is the last key returned (the list is ordered by namespace/name). */
  private list(r: Route, q: URLSearchParams): ListBody {
    let items = this.select(r, q);
    const token = q.get('continue');
    if (token) {
      const after = Buffer.from(token, 'base64url').toString('utf8');
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
    }
    const limit = Number(q.get('limit') ?? 0);
    let cont = '';
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      const last = items[items.length - 1]!;
      cont = Buffer.from(`${last.metadata.namespace ?? ''}/${last.metadata.name}`).toString('base64url');
    }
    return this.listOf(
      r.t,
      r.version,
      items.map((o) => present(r.t, r.version, o)),
      cont,
    );
  }

  private watch(r: Route, q: URLSearchParams, res: ServerResponse, table: boolean): void {
    const { t, version, ns } = r;
    const [labels, fields] = this.selectors(q);
    const key = typeKey(t.group, t.plural);
    const matches = (o: Obj | undefined) =>
      o !== undefined &&
      (ns === undefined || o.metadata.namespace === ns) &&
      matchesLabels(labels, o.metadata.labels) &&
      matchesFields(fields, o);
    // Objects go out as they are, or as one-row Tables for `kubectl get -w`; errors and bookmarks as they are.
    const line = (type: string, object: unknown) => {
      // closeWatches() ends the response; events that arrive before 'finish' have nowhere to go.
      if (res.writableEnded) return;
      const o = object as Obj;
      const body =
        table && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
          ? toTable(t, version, [o], o.metadata.resourceVersion, q.get('includeObject'))
          : object;
      res.write(`${JSON.stringify({ type, object: body })}\n`);
    };
    const translate = (e: ChangeEvent) => {
      if (e.key !== key) return;
      const now = matches(e.object);
      const before = e.type === 'MODIFIED' ? matches(e.old) : now;
      if (e.type === 'MODIFIED' && before !== now)
        line(now ? 'ADDED' : 'DELETED', present(t, version, e.object));
      else if (now) line(e.type, present(t, version, e.object));
    };
    const rvParam = q.get('resourceVersion') ?? '';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // clients wait for the headers before they consider the watch established
    if (rvParam === '' || rvParam === '0') {
      for (const o of this.ops.list(t, ns)) if (matches(o)) line('ADDED', present(t, version, o));
    } else {
      const from = Number(rvParam);
      const backlog = Number.isFinite(from) ? this.ops.store.since(key, from) : undefined;
      if (!backlog) {
        const status = errors
          .gone(`too old resource version: ${rvParam} (${this.ops.store.compactedRevision})`)
          .toStatus();
        line('ERROR', status);
        res.end();
        return;
      }
      for (const e of backlog) translate(e);
    }
    const unsubscribe = this.ops.store.subscribe(translate);
    this.watches.add(res);
    const timers: NodeJS.Timeout[] = [];
    if (q.get('allowWatchBookmarks') === 'true') {
      timers.push(
        setInterval(
          () =>
            line('BOOKMARK', {
              kind: t.kind,
              apiVersion: apiVersionOf(t, version),
              metadata: { resourceVersion: String(this.ops.store.rv) },
            }),
          this.opts.bookmarkIntervalMs,
        ),
      );
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    const done = () => {
      unsubscribe();
      for (const tm of timers) clearTimeout(tm);
      this.watches.delete(res);
    };
    res.on('close', done);
    res.on('finish', done);
  }

  /** Ends every open watch, as a restarting API server or a dropped connection would. */
  closeWatches(): void {
    for (const w of this.watches) w.end();
  }
}
