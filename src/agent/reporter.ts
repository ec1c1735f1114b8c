/**
 * Where the agent reports what it holds and what happened. In a cluster: its pod's annotation and
 * Events on the pod (kube-reporter.ts); outside one, only the logs the agent writes anyway.
 */
export interface AgentEvent {
  type: 'Normal' | 'Warning';
  /** CamelCase, as Kubernetes reasons are: ModulePulled, ModulePullFailed, ModuleRemoved, ... */
  reason: string;
  message: string;
}

export interface Reporter {
  /** The digests present and verified now (the latest call wins; implementations coalesce). */
  modules(digests: string[]): void;
  event(event: AgentEvent): void;
  /** Flushes what is pending (best effort) and stops. */
  close(): Promise<void>;
}

export const nullReporter: Reporter = {
  modules: () => undefined,
  event: () => undefined,
  close: async () => undefined,
};
