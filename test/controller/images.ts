/** Real Wasm modules pushed to the real registry in the seed's format (config + one wasm layer). */
import { rawPushImage } from '../support/raw-push.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const config = Buffer.from(
  JSON.stringify({
    type: 'envoy_proxy',
    abiVersions: ['v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f'],
    config: { rootIds: ['my_root_id'] },
  }),
);

/** Pushes a distinct module (its custom section carries `seed`) to `repo:tag`; returns the manifest digest. */
export function pushModule(registryUrl: string, repo: string, tag: string, seed: string): Promise<string> {
  const wasm = moduleWithCustomSection(256, seed);
  return rawPushImage(
    registryUrl,
    repo,
    tag,
    'application/vnd.oci.image.manifest.v1+json',
    { mediaType: 'application/vnd.module.wasm.config.v1+json', bytes: config },
    [{ mediaType: 'application/vnd.module.wasm.content.layer.v1+wasm', bytes: wasm }],
  );
}
