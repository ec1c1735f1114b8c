/**
 * The pure mesh layer: the ASMFilterDeployment API, its validation, and everything rendered from it
 * (EnvoyFilter, workload annotations, images ConfigMap, install manifests). No I/O anywhere below here.
 */
export * from './types.js';
export * from './reference.js';
export * from './validate.js';
export * from './envoyfilter.js';
export * from './wasmplugin.js';
export * from './workload.js';
export * from './node-gate.js';
export * from './images.js';
export * from './render.js';
export * from './status.js';
export * from './yaml.js';
export * from './install/index.js';
export { deployFiles } from './install/deploy-files.js';
