// Preloaded with `node --import` (after tsx): appends to $RECORD_MODULES_FILE the URL of every ES module
// the process loads (through a loader hook) and, as it exits, the path of every CommonJS module in
// require's cache, one a line. test/cli/lazy-imports.test.ts reads it to see what a command loaded.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.RECORD_MODULES_FILE;
if (!out) throw new Error('record-modules.mjs needs RECORD_MODULES_FILE');
const hook = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(out)}, url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
const require = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(out, Object.keys(require.cache).join('\n') + '\n'));
