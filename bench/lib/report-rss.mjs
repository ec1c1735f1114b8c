// Preloaded with `node --import`: prints the process's peak RSS in MB to stderr as it exits.
process.on('exit', () =>
  process.stderr.write(`peak-rss-mb ${(process.resourceUsage().maxRSS / 1024).toFixed(1)}\n`),
);
