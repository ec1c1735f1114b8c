/**
 * `meshwasm uninstall`: the seed's `--WebAssemblyFilterEnabled=false`. Refuses while ASMFilterDeployments
 * exist (removing the controller would strand their EnvoyFilters and annotations) unless `--cascade`,
 * which deletes them first and waits until the controller's finalizer has cleaned each one up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject } from '../kube/index.js';
import type { Command } from 'commander';
import { Option } from './commander.js';
import { parseDuration } from '../agent/duration.js';
import { MeshwasmError } from '../errors.js';
import {
  CRD_NAME,
  DEFAULT_NAMESPACE,
  FILTER_DEPLOYMENT_API_VERSION,
  FILTER_DEPLOYMENT_KIND,
} from '../mesh/types.js';
import { addKubeOptions, withApplier } from './kube-options.js';
import type { KubeFlags } from '../kube/object-applier.js';

interface UninstallFlags extends KubeFlags {
  namespace: string;
  cascade?: boolean;
  timeout: string;
  output: 'text' | 'json';
}

const nameOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;

export function register(program: Command): void {
  const command = program
    .command('uninstall')
    .description(
      'disable Wasm filters: remove what `meshwasm install` applied (refuses while ASMFilterDeployments exist)',
    )
    .option('-n, --namespace <namespace>', 'the namespace meshwasm was installed into', DEFAULT_NAMESPACE)
    .option('--cascade', 'delete every ASMFilterDeployment first and wait for their cleanup')
    .option('--timeout <duration>', 'how long --cascade waits for the cleanup', '120s')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'),
    );
  addKubeOptions(command);
  command.action(async (flags: UninstallFlags) => {
    const timeoutMs = parseDuration(flags.timeout, '--timeout');
    const results = await withApplier(flags, async (applier, report) => {
      const listFilterDeployments = () =>
        applier.listCustomResources(CRD_NAME, FILTER_DEPLOYMENT_API_VERSION, FILTER_DEPLOYMENT_KIND);
      const existing = await listFilterDeployments();
      if (existing.length > 0 && !flags.cascade) {
        throw new MeshwasmError(
          'KUBERNETES',
          `${existing.length} ASMFilterDeployment(s) still exist: ${existing.map(nameOf).join(', ')}`,
          {
            hint: 'delete them first (kubectl delete asmfilterdeployments --all -A), or run meshwasm uninstall --cascade',
          },
        );
      }
      if (existing.length > 0) {
        for (const cr of existing) report(cr, await applier.delete(cr));
        // The controller (still running) removes each CR's EnvoyFilter, annotations and ConfigMap entry,
        // then its finalizer; only then is it safe to remove the controller itself.
        const deadline = Date.now() + timeoutMs;
        let remaining = await listFilterDeployments();
        while (remaining.length > 0 && Date.now() < deadline) {
          await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
          remaining = await listFilterDeployments();
        }
        if (remaining.length > 0) {
          throw new MeshwasmError(
            'KUBERNETES',
            `timed out after ${flags.timeout} waiting for the cleanup of ${remaining.map(nameOf).join(', ')} (finalizers: ${[
              ...new Set(remaining.flatMap((r) => r.metadata?.finalizers ?? [])),
            ].join(', ')})`,
            {
              hint: `check that the controller runs (kubectl get pods -n ${flags.namespace} -l app.kubernetes.io/name=meshwasm-controller); nothing else was removed, so run uninstall --cascade again once it does`,
            },
          );
        }
      }

      const { installManifests } = await import('../mesh/install/index.js');
      for (const object of [...installManifests({ namespace: flags.namespace })].reverse()) {
        report(object, await applier.delete(object));
      }
      // The verification policy ConfigMap install made from a file (one the user made is left alone).
      const { staleManagedPolicy } = await import('./install-policy.js');
      const policy = await staleManagedPolicy(applier, flags.namespace, undefined);
      if (policy) report(policy, await applier.delete(policy));
    });
    if (flags.output === 'json')
      process.stdout.write(`${JSON.stringify({ namespace: flags.namespace, results }, null, 2)}\n`);
    else
      process.stdout.write(
        `meshwasm is uninstalled. The pull secret ${flags.namespace}/asmwasm-cache, if any, was left in place.\n`,
      );
  });
}
