/** Where the Kubernetes connection comes from: an explicit file, else KUBECONFIG, ~/.kube/config or in-cluster. */
import { KubeConfig } from '@kubernetes/client-node';
import { MeshwasmError } from '../errors.js';

export function loadKubeConfig(path?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault(); // KUBECONFIG, then ~/.kube/config, then the in-cluster service account
    if (context) kc.setCurrentContext(context);
  } catch (err) {
    throw new MeshwasmError(
      'CONFIG',
      `cannot load the kubeconfig${path ? ` ${path}` : ''}: ${(err as Error).message}`,
      {
        hint: 'set KUBECONFIG or pass --kubeconfig <file>; in a pod, mount a service account token',
        cause: err,
      },
    );
  }
  if (!kc.getCurrentCluster())
    throw new MeshwasmError('CONFIG', 'the kubeconfig has no current cluster', {
      hint: 'set current-context in the kubeconfig or pass --kubeconfig <file>',
    });
  return kc;
}
