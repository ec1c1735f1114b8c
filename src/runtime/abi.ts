/**
 * Numeric constants of the proxy-wasm ABI (v0.2.1, compatible with 0.2.0 and 0.1.0 where noted).
 * Values come from the spec's "Types" section; they cross the Wasm boundary as plain i32.
 */
export const Status = {
  OK: 0,
  NOT_FOUND: 1,
  BAD_ARGUMENT: 2,
  SERIALIZATION_FAILURE: 3,
  PARSE_FAILURE: 4,
  INVALID_MEMORY_ACCESS: 6,
  EMPTY: 7,
  CAS_MISMATCH: 8,
  INTERNAL_FAILURE: 10,
  UNIMPLEMENTED: 12,
} as const;

export const Action = { CONTINUE: 0, PAUSE: 1 } as const;

export const BufferType = {
  HTTP_REQUEST_BODY: 0,
  HTTP_RESPONSE_BODY: 1,
  DOWNSTREAM_DATA: 2,
  UPSTREAM_DATA: 3,
  HTTP_CALL_RESPONSE_BODY: 4,
  GRPC_CALL_MESSAGE: 5,
  VM_CONFIGURATION: 6,
  PLUGIN_CONFIGURATION: 7,
  FOREIGN_FUNCTION_ARGUMENTS: 8,
} as const;

export const MapType = {
  HTTP_REQUEST_HEADERS: 0,
  HTTP_REQUEST_TRAILERS: 1,
  HTTP_RESPONSE_HEADERS: 2,
  HTTP_RESPONSE_TRAILERS: 3,
  GRPC_CALL_INITIAL_METADATA: 4,
  GRPC_CALL_TRAILING_METADATA: 5,
  HTTP_CALL_RESPONSE_HEADERS: 6,
  HTTP_CALL_RESPONSE_TRAILERS: 7,
} as const;

export const StreamType = { HTTP_REQUEST: 0, HTTP_RESPONSE: 1, DOWNSTREAM: 2, UPSTREAM: 3 } as const;

export const MetricType = { COUNTER: 0, GAUGE: 1, HISTOGRAM: 2 } as const;
export type MetricKind = 'counter' | 'gauge' | 'histogram';

export const LogLevel = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, CRITICAL: 5 } as const;
export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical';
export const LOG_LEVEL_NAMES: readonly LogLevelName[] = [
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'critical',
];

export const WasiErrno = {
  SUCCESS: 0,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  NOSYS: 52,
  NOTSUP: 58,
} as const;

/** The exported marker functions a module uses to advertise the ABI it was built against. */
export const ABI_MARKERS = [
  'proxy_abi_version_0_2_1',
  'proxy_abi_version_0_2_0',
  'proxy_abi_version_0_1_0',
] as const;
export type AbiVersion = '0.2.1' | '0.2.0' | '0.1.0';
