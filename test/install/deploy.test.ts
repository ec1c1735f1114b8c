import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deployFiles, installManifests } from '../../src/mesh/index.js';

const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));

describe('deploy/', () => {
  it('holds exactly what the pure install functions produce (run `npm run gen:deploy` if this fails)', () => {
    const expected = deployFiles();
    const yamlFiles = readdirSync(deployDir)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(yamlFiles).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) {
      expect(readFileSync(deployDir + name, 'utf8'), `deploy/${name} is stale`).toBe(text);
    }
  });

  it('renders with `kubectl kustomize deploy/` to the same objects as `meshwasm install`', () => {
    const out = execFileSync('kubectl', ['kustomize', deployDir], { encoding: 'utf8' });
    const rendered = parseAllDocuments(out).map((d) => d.toJSON());
    const key = (o: { kind: string; metadata: { name: string } }) => `${o.kind}/${o.metadata.name}`;
    const expected = installManifests();
    expect(rendered.map(key).sort()).toEqual(expected.map(key).sort());
    for (const object of expected) {
      expect(rendered.find((r) => key(r) === key(object))).toEqual(object);
    }
  });

  it('has a Dockerfile whose entry point is the meshwasm CLI', () => {
    const dockerfile = readFileSync(deployDir + 'Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "\/app\/bin\/meshwasm\.js"\]/);
  });
});
