// Run as `node import-cost.mjs SPECIFIER`: prints one JSON line with the time `await import(SPECIFIER)`
// took in this fresh process and the RSS it added. Resolved from the project (bench/lib is inside it).
const spec = process.argv[2];
const rssBefore = process.memoryUsage().rss;
const started = performance.now();
await import(spec);
const ms = performance.now() - started;
const rssMb = (process.memoryUsage().rss - rssBefore) / 1048576;
process.stdout.write(`${JSON.stringify({ spec, ms, rssMb })}\n`);
