/**
 * `meshwasm render -f filter.yaml [--digest sha256:...] [--mesh-config WasmPlugin]`: what the controller
 * would generate for a CR, without a cluster. With --digest (or an image pinned by digest) it is fully
 * offline; otherwise the tag is resolved through the registry, and stderr says so. A WasmPlugin carries
 * the module's sha256: read from the registry when the render is online, from --sha256 otherwise.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from './commander.js';
import { MeshwasmError } from '../errors.js';
import type { RenderedFilterDeployment, ValidFilterDeployment } from '../mesh/index.js';
import {
  DEFAULT_FILTERS_DIR,
  DEFAULT_MESH_CONFIG,
  MESH_CONFIG_KINDS,
  type MeshConfigKind,
} from '../mesh/types.js';
import { addTransportOptions, maxModuleBytes, ociOptions, type TransportFlags } from './oci-options.js';

interface RenderFlags extends TransportFlags {
  filename: string;
  digest?: string;
  namespace: string;
  dir: string;
  output: 'yaml' | 'json';
  meshConfig: MeshConfigKind;
  sha256?: string;
  /** commander's --no-node-gate: true unless given */
  nodeGate: boolean;
}

/** The documents of a YAML stream (`-` is stdin), each a plain object; errors name the file and document. */
export async function readDocuments(filename: string): Promise<unknown[]> {
  let text: string;
  try {
    text = readFileSync(filename === '-' ? 0 : filename, 'utf8');
  } catch (err) {
    throw new MeshwasmError(
      'IO',
      `cannot read ${filename}: ${err instanceof Error ? err.message : String(err)}`,
      {
        hint: 'pass the path of a YAML file with -f, or - for standard input',
      },
    );
  }
  const { parseAllDocuments } = await import('yaml');
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  const values: unknown[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      throw new MeshwasmError(
        'INVALID_INPUT',
        `${filename}: document ${i + 1} is not valid YAML: ${doc.errors[0]!.message}`,
        {
          hint: 'fix the YAML syntax at the position shown',
        },
      );
    }
    const value: unknown = doc.toJSON();
    if (value !== null && value !== undefined) values.push(value);
  });
  if (values.length === 0) {
    throw new MeshwasmError('INVALID_INPUT', `${filename} holds no documents`, {
      hint: 'give a file with at least one ASMFilterDeployment, like the seed filter.yaml',
    });
  }
  return values;
}

function describeTarget(r: RenderedFilterDeployment): string {
  const labels = Object.entries(r.workload.matchLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `every ${r.workload.kind} in namespace ${r.workload.namespace} whose pod template labels include ${labels}`;
}

export async function formatRenderedYaml(items: readonly RenderedFilterDeployment[]): Promise<string> {
  const { toYaml } = await import('../mesh/yaml.js');
  return items
    .map((r) =>
      [
        `# ${r.meshConfig.kind} for ASMFilterDeployment ${r.filterDeployment.namespace}/${r.filterDeployment.name}` +
          ` (image ${r.pinnedImage})\n${toYaml(r.meshConfig)}`,
        `# JSON merge patch for ${describeTarget(r)}${
          r.workload.nodeLabel
            ? `\n# (node gate: its pods schedule only to nodes the controller has labelled ${r.workload.nodeLabel}, where the agent holds the module)`
            : ''
        }\n${toYaml(r.workload.patch)}`,
      ].join('---\n'),
    )
    .join('---\n');
}

interface Pinning {
  digest: string;
  /** the module's sha256, when a WasmPlugin needs it and it is known */
  moduleSha256?: string;
}

async function pinningFor(fd: ValidFilterDeployment, flags: RenderFlags): Promise<Pinning> {
  const image = fd.filter.image;
  const pinned = fd.filter.reference.digest;
  const wasmPlugin = fd.meshConfig === 'WasmPlugin';
  const offline = (digest: string): Pinning => {
    if (wasmPlugin && flags.sha256 === undefined)
      process.stderr.write(
        `Note: the WasmPlugin for ${fd.namespace}/${fd.name} carries no sha256 (pass --sha256 with the module's sha256, or render without --digest to read it from the registry)\n`,
      );
    return { digest, ...(wasmPlugin && flags.sha256 ? { moduleSha256: flags.sha256 } : {}) };
  };
  if (pinned !== undefined) {
    if (flags.digest !== undefined && flags.digest !== pinned) {
      process.stderr.write(
        `Warning: ${image} is pinned to ${pinned}; --digest ${flags.digest} is ignored for it\n`,
      );
    }
    return offline(pinned);
  }
  if (flags.digest !== undefined) return offline(flags.digest);
  try {
    const oci = await import('../oci/index.js');
    let result: Pinning;
    if (wasmPlugin && flags.sha256 === undefined) {
      const { manifestDigest, moduleDigest } = await oci.resolveModuleDigest(image, {
        ...ociOptions(flags),
        maxModuleBytes: maxModuleBytes(flags),
      });
      result = { digest: manifestDigest, moduleSha256: moduleDigest };
    } else {
      result = { digest: await oci.resolveDigest(image, ociOptions(flags)) };
      if (wasmPlugin) result.moduleSha256 = flags.sha256;
    }
    process.stderr.write(`Resolved ${image} to ${result.digest} (pass --digest to render offline)\n`);
    return result;
  } catch (err) {
    throw new MeshwasmError(
      err instanceof MeshwasmError ? err.code : 'NETWORK',
      `rendering needs the manifest digest of ${image}, and resolving it failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        hint: 'pass --digest sha256:<hex> to render offline, or make the registry reachable (see --plain-http, --registry-config)',
        cause: err,
      },
    );
  }
}

export function register(program: Command): void {
  const command = program
    .command('render')
    .description(
      'print the EnvoyFilter (or WasmPlugin) and workload patch an ASMFilterDeployment produces (offline with --digest)',
    )
    .requiredOption('-f, --filename <file>', 'YAML file with one or more ASMFilterDeployments (- for stdin)')
    .option(
      '--digest <digest>',
      'the manifest digest the image resolves to (sha256:...); without it the registry is asked',
    )
    .option('-n, --namespace <namespace>', 'namespace for CRs that name none', 'default')
    .option('--dir <dir>', 'node directory the agent stores modules in', DEFAULT_FILTERS_DIR)
    .addOption(
      new Option(
        '--mesh-config <kind>',
        'what to render for CRs without spec.meshConfig: an EnvoyFilter, or an Istio WasmPlugin',
      )
        .choices([...MESH_CONFIG_KINDS])
        .default(DEFAULT_MESH_CONFIG),
    )
    .option(
      '--sha256 <digest>',
      "the module's own sha256 for a WasmPlugin rendered offline (sha256:<hex>; `meshwasm inspect` shows it)",
    )
    .option(
      '--no-node-gate',
      'leave out the node affinity the controller adds by default (for a controller run with --no-node-gate)',
    )
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'),
    );
  addTransportOptions(command);
  command.action(async (flags: RenderFlags) => {
    const { isManifestDigest } = await import('../mesh/reference.js');
    if (flags.digest !== undefined && !isManifestDigest(flags.digest)) {
      throw new MeshwasmError('USAGE', `--digest: "${flags.digest}" is not a manifest digest`, {
        hint: 'a digest looks like sha256: followed by 64 lowercase hex digits (see `meshwasm inspect <image>`)',
      });
    }
    if (flags.sha256 !== undefined && !isManifestDigest(flags.sha256)) {
      throw new MeshwasmError('USAGE', `--sha256: "${flags.sha256}" is not a sha256 digest`, {
        hint: "give the module's sha256 as sha256: followed by 64 lowercase hex digits (see `meshwasm inspect <image>`)",
      });
    }
    const { formatFieldErrors, parseFilterDeployment, renderFilterDeployment } =
      await import('../mesh/index.js');
    const items: RenderedFilterDeployment[] = [];
    for (const doc of await readDocuments(flags.filename)) {
      // Validate first, so a bad CR is reported before any registry round trip.
      const validateOptions = { defaultNamespace: flags.namespace, defaultMeshConfig: flags.meshConfig };
      const fd = parseFilterDeployment(doc, validateOptions);
      const { digest, moduleSha256 } = await pinningFor(fd, flags);
      const result = renderFilterDeployment(doc, digest, {
        ...validateOptions,
        filtersDir: flags.dir,
        moduleSha256,
        nodeGate: flags.nodeGate,
      });
      if (!result.ok) {
        throw new MeshwasmError(
          'INVALID_INPUT',
          `cannot render ${fd.namespace}/${fd.name}: ${formatFieldErrors(result.errors)}`,
          {
            hint: 'check --digest and the CR fields named above',
          },
        );
      }
      items.push(result.value);
    }
    if (flags.output === 'json') {
      const json = items.map((r) => ({
        [r.meshConfig.kind === 'WasmPlugin' ? 'wasmPlugin' : 'envoyFilter']: r.meshConfig,
        pinnedImage: r.pinnedImage,
        workload: r.workload,
      }));
      process.stdout.write(`${JSON.stringify({ items: json }, null, 2)}\n`);
    } else {
      process.stdout.write(await formatRenderedYaml(items));
    }
  });
}
