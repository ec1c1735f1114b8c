/**
 * Writes the CLI reference into README.md (between the cli-reference markers) from the command
 * definitions themselves, so the documentation cannot drift from the code. `npm run docs:cli`;
 * test/docs/cli-reference.test.ts fails when the README is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderCliReference, spliceCliReference } from '../src/cli/reference.js';

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const next = spliceCliReference(readFileSync(readme, 'utf8'), await renderCliReference());
writeFileSync(readme, next);
console.log('README.md: CLI reference updated');
