/**
 * Signatures for Wasm images, compatible with cosign and Sigstore: keys in cosign's PEM formats, the
 * `sha256-<hex>.sig` simple-signing tag, Sigstore bundles as OCI referrers, verification policies.
 * Builds on `oci` (and nothing of Kubernetes), so the CLI, the controller and the agent share it.
 */
export {
  encryptPrivateKey,
  generateKeyPair,
  parsePrivateKey,
  parsePublicKey,
  publicKeyFromObject,
  describeKey,
  type PasswordSource,
  type PublicKey,
} from './keys.js';
export {
  describeSigners,
  parsePolicy,
  readKeyFile,
  readPolicyFile,
  readTrustedRoot,
  type KeylessIdentity,
  type VerificationPolicy,
} from './policy.js';
export { signManifest, type SignOptions, type SignResult } from './sign.js';
export { verifyManifestSignature, type VerifiedSignature } from './verify.js';
export { verifyReferenceDigest } from './remote.js';
export { attachBundle, signatureStatement, COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE } from './bundles.js';
export {
  signatureTag,
  simpleSigningPayload,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from './simple-signing.js';
