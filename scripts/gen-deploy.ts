/**
 * Writes deploy/ from the pure install functions (src/mesh/install), so the kustomization and
 * `meshwasm install` can never disagree. test/install/deploy.test.ts fails when deploy/ is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deployFiles } from '../src/mesh/index.js';

const dir = fileURLToPath(new URL('../deploy/', import.meta.url));
for (const [name, text] of deployFiles()) {
  writeFileSync(dir + name, text);
  process.stdout.write(`wrote deploy/${name}\n`);
}
