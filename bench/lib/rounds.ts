/**
 * A round of jobs compared with each other (ours against a peer, this build against the build before),
 * run so that no job gets a better place than another. Run back to back, a job's time depended on the
 * job before it: in random orders, `meshwasm agent` synced 50 modules in ~330 ms right after oras-go and
 * in ~410 ms right after another agent, so a fixed order made the same build ~20% slower in the second
 * place than in the first (386 against 319 ms). With a 1 s pause before each job that was gone (356-384
 * ms after any job). So each job runs after a pause, and the job that starts the round moves from round
 * to round; pick a number of rounds that is a multiple of the number of jobs.
 */
const PAUSE_MS = 1000;

export async function runRound(round: number, jobs: readonly (() => Promise<unknown>)[]): Promise<void> {
  for (let i = 0; i < jobs.length; i++) {
    await new Promise((settle) => setTimeout(settle, PAUSE_MS));
    await jobs[(round + i) % jobs.length]!();
  }
}
