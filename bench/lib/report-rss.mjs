// Preloaded with `node --import`: prints the process's peak RSS in MB to stderr as it exits. On Linux
// it is VmHWM from /proc/self/status: getrusage's maxRSS (process.resourceUsage) keeps the high-water
// mark of the process that forked this one, so a child of a big benchmark process would report its
// parent's size (every run of bench/oci.ts's 200 MiB pull then read 455 MB, --version included).
import { readFileSync } from 'node:fs';

function peakRssKb() {
  try {
    const hwm = /^VmHWM:\s*(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]);
  } catch {
    // not Linux: fall back to getrusage
  }
  return process.resourceUsage().maxRSS;
}

process.on('exit', () => process.stderr.write(`peak-rss-mb ${(peakRssKb() / 1024).toFixed(1)}\n`));
