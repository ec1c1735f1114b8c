/** The content-addressed Wasm module store on disk (used by the node agent). */
export { ModuleStore, type FetchedModule, type Fetch, type OpenReport, type StoredModule } from './store.js';
export { SingleFlight } from '../single-flight.js';
export {
  classifyName,
  encodeRecord,
  hexOf,
  moduleFileName,
  parseRecord,
  recordFileName,
  type ModuleRecord,
} from './record.js';
export { sha256File } from './files.js';
