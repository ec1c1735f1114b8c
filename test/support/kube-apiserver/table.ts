/**
 * Server-side printing: `kubectl get` asks for `as=Table`; the server answers with columns and rows.
 * Built-in kinds get Name and Age; custom resources get Name, their CRD's additionalPrinterColumns
 * (simple JSONPath: dotted fields, `[n]` and `[?(@.field=="value")]` filters) and Age when declared.
 */
import type { PrinterColumn, ResourceType } from './resources.js';
import type { Obj } from './store.js';

export function wantsTable(accept: string | undefined): boolean {
  return /as=Table/.test(accept ?? '');
}

/** Evaluates the JSONPath subset printer columns use; undefined when any step is missing. */
export function jsonPath(obj: unknown, path: string): unknown {
  const tokens =
    path
      .replace(/^\{?\.?/, '')
      .replace(/\}$/, '')
      .match(/[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let cur: unknown[] = [obj];
  for (const tok of tokens) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (v === null || typeof v !== 'object') continue;
      if (tok.startsWith('[?(')) {
        const m = /^\[\?\(@\.([\w.]+)\s*==\s*["']([^"']*)["']\)\]$/.exec(tok);
        if (m && Array.isArray(v)) next.push(...v.filter((e) => String(jsonPath(e, m[1]!)) === m[2]));
      } else if (tok.startsWith('[')) {
        const i = Number(tok.slice(1, -1));
        if (Array.isArray(v) && v[i] !== undefined) next.push(v[i]);
      } else {
        const child = (v as Record<string, unknown>)[tok];
        if (child !== undefined) next.push(child);
      }
    }
    cur = next;
  }
  return cur.length === 0 ? undefined : cur.length === 1 ? cur[0] : cur;
}

/** Ages as the real server prints them (k8s.io/apimachinery HumanDuration): 45s, 5m12s, 3h, 12d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  return d < 365 * 2 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

function columnsFor(t: ResourceType, version: string): PrinterColumn[] {
  const custom = t.printerColumns?.[version] ?? [];
  const cols: PrinterColumn[] = [
    {
      name: 'Name',
      type: 'string',
      format: 'name',
      jsonPath: '.metadata.name',
      description: 'Name must be unique within a namespace.',
    },
  ];
  cols.push(...custom);
  if (!custom.some((c) => c.name === 'Age'))
    cols.push({
      name: 'Age',
      type: 'date',
      jsonPath: '.metadata.creationTimestamp',
      description: 'CreationTimestamp of the object.',
    });
  return cols;
}

export function toTable(
  t: ResourceType,
  version: string,
  items: Obj[],
  resourceVersion: string,
  includeObject: string | null,
): object {
  const cols = columnsFor(t, version);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => {
        const v = jsonPath(o, c.jsonPath);
        if (v === undefined) return null;
        if (c.type === 'date' && typeof v === 'string') return humanDuration(Date.now() - Date.parse(v));
        return typeof v === 'object' ? JSON.stringify(v) : v;
      }),
      object:
        includeObject === 'Object'
          ? o
          : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
