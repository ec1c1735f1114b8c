/** What the verbs that change a cluster share: the connection flags, and an applier that reports. */
import type { Command } from 'commander';
import type { Applier, KubeFlags, ObjectHeader } from '../kube/object-applier.js';

/** Adds --kubeconfig and --context, shared by the verbs that talk to a cluster. */
export function addKubeOptions(command: Command): Command {
  return command
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context to use');
}

export interface ObjectOutcome {
  object: string;
  outcome: string;
}

/**
 * Runs `work` with an applier for the cluster the flags name. Each outcome it reports is printed at once
 * as kubectl does (`daemonset/x -n ns created`) with `--output text`, and all are returned.
 */
export async function withApplier(
  flags: KubeFlags & { output: string },
  work: (applier: Applier, report: (object: ObjectHeader, outcome: string) => void) => Promise<void>,
): Promise<ObjectOutcome[]> {
  // Loaded here: the Kubernetes client is heavy, and --dry-run and the other commands never need it.
  const { connectApplier, describeObject } = await import('../kube/object-applier.js');
  const applier = connectApplier(flags);
  const results: ObjectOutcome[] = [];
  try {
    await work(applier, (object, outcome) => {
      results.push({ object: describeObject(object), outcome });
      if (flags.output === 'text') process.stdout.write(`${describeObject(object)} ${outcome}\n`);
    });
  } finally {
    applier.close();
  }
  return results;
}
