/**
 * The repository a simple-signing payload names (`critical.identity.docker-reference`) against the one
 * being verified. cosign itself ignores it; containers/image requires it to match, which is what stops a
 * signature made for one repository (a test filter, say) from vouching for the same bytes copied into
 * another (production). The policy chooses (`dockerReference: match`, the default, or `ignore`).
 */
import { DOCKER_HUB, parseReference } from '../oci/index.js';

/** Docker Hub's other names, as cosign (go-containerregistry) writes them. */
const HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io']);

function repositoryOf(name: string): string | undefined {
  try {
    const ref = parseReference(name);
    const registry = HUB_ALIASES.has(ref.registry.toLowerCase()) ? DOCKER_HUB : ref.registry.toLowerCase();
    return `${registry}/${ref.repository}`;
  } catch {
    return undefined;
  }
}

function mismatch(named: string, wanted: string): string {
  return `it was made for ${JSON.stringify(named)}, not for ${wanted} (a signature copied from another repository; if ${wanted} mirrors it, set "dockerReference: ignore" in the policy, as cosign does)`;
}

/**
 * Why a Sigstore bundle's in-toto statement names another repository for `digest`, or undefined. A
 * subject without a usable name is not compared (nothing says where it was made); one that names a
 * repository must name this one, so a bundle copied along with the bytes fares as a copied `.sig` does.
 */
export function statementRepositoryProblem(
  statement: Buffer,
  digest: string,
  reference: string,
): string | undefined {
  const wanted = repositoryOf(reference);
  if (wanted === undefined) return undefined;
  const [algorithm, hex] = digest.split(':') as [string, string];
  let subjects: { name?: unknown; digest?: Record<string, unknown> }[];
  try {
    subjects = (JSON.parse(statement.toString('utf8')) as { subject?: typeof subjects }).subject ?? [];
  } catch {
    return 'the statement is not JSON';
  }
  const names = subjects
    .filter((s) => s.digest?.[algorithm] === hex && typeof s.name === 'string' && s.name !== '')
    .map((s) => s.name as string)
    .filter((name) => repositoryOf(name) !== undefined);
  if (names.length === 0 || names.some((name) => repositoryOf(name) === wanted)) return undefined;
  return mismatch(names[0]!, wanted);
}

/** Why the payload does not name `reference`'s repository, or undefined when it does. */
export function dockerReferenceProblem(payload: Buffer, reference: string): string | undefined {
  let named: unknown;
  try {
    named = (JSON.parse(payload.toString('utf8')) as { critical?: { identity?: Record<string, unknown> } })
      .critical?.identity?.['docker-reference'];
  } catch {
    return 'the payload is not JSON';
  }
  const wanted = repositoryOf(reference);
  if (wanted === undefined) return undefined; // not a registry reference (an OCI layout): nothing to compare
  if (typeof named !== 'string') return 'the payload names no docker-reference';
  const signed = repositoryOf(named);
  if (signed === wanted) return undefined;
  return mismatch(named, wanted);
}
