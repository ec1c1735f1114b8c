/**
 * YAML text for generated objects (pure): one document per object, stable key order as built, no line
 * folding (long JSON annotations stay on one line, as in the seed), so output is diffable and golden-testable.
 */
import { stringify } from 'yaml';

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Several objects as one multi-document YAML stream (`---` between documents). */
export function toYamlDocuments(values: readonly unknown[]): string {
  return values.map((v) => toYaml(v)).join('---\n');
}
