/**
 * Child process of bench/oci.ts: pulls one module to a file and prints its own peak RSS in MB, so the
 * parent can show that pulls stream (peak memory far below the module size).
 * Usage: node --import tsx bench/lib/pull-rss.ts <registry/repo:tag> <out-file>
 */
import { pullModuleToFile } from '../../src/oci/index.js';

const [reference, file] = process.argv.slice(2);
if (!reference || !file) throw new Error('usage: pull-rss.ts REF FILE');
if (reference !== 'none')
  await pullModuleToFile(reference, file, { plainHttp: true, registryConfig: '/nonexistent' });
process.stdout.write(`${(process.resourceUsage().maxRSS / 1024).toFixed(1)}\n`);
