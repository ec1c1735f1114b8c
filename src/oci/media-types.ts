/** Media types of the OCI image spec, Docker's manifest v2, and the Wasm image specs. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTarGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  wasmConfig: 'application/vnd.module.wasm.config.v1+json',
  wasmLayer: 'application/vnd.module.wasm.content.layer.v1+wasm',
} as const;

export const manifestMediaTypes: readonly string[] = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
];

export function isManifestMediaType(mediaType: string): boolean {
  return manifestMediaTypes.includes(mediaType);
}

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/** Tar layers that may hold plugin.wasm (compat and Docker images). */
export function tarLayerCompression(mediaType: string): 'gzip' | 'none' | undefined {
  switch (mediaType) {
    case MediaType.ociLayerTarGzip:
    case MediaType.dockerLayerTarGzip:
      return 'gzip';
    case MediaType.ociLayerTar:
    case MediaType.dockerLayerTar:
      return 'none';
    default:
      return undefined;
  }
}

export const Annotation = {
  title: 'org.opencontainers.image.title',
  refName: 'org.opencontainers.image.ref.name',
  created: 'org.opencontainers.image.created',
  wasmVariant: 'module.wasm.image/variant',
} as const;

/** The entry of a compat image's tar layer that holds the module (Istio's and Higress's name). */
export const PLUGIN_ENTRY = 'plugin.wasm';
