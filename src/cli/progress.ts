import type { Progress } from '../oci/index.js';

/**
 * A progress bar on a terminal; nothing at all when stderr is not a TTY or output is JSON (and then
 * cli-progress is not even loaded: scripts and pipelines do not pay for a bar they never see).
 */
export async function progressBar(
  label: string,
  enabled: boolean,
): Promise<{ onProgress?: Progress; stop(): void }> {
  if (!enabled || !process.stderr.isTTY) return { stop: () => undefined };
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} bytes`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(Math.min(done, total));
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}
