// The seed's example filter: adds one response header. Its name and value come from the plugin
// configuration, a JSON object such as {"name":"hello","value":"hello details"}; with no configuration
// (or one that lacks either field) it adds `resp-header-demo: added by our filter`.
export * from '@gcoredev/proxy-wasm-sdk-as/assembly/proxy';
import { ensureRootContext, getRootContext } from '@gcoredev/proxy-wasm-sdk-as/assembly/runtime';
import {
  FilterDataStatusValues,
  FilterHeadersStatusValues,
  FilterTrailersStatusValues,
  log,
  LogLevelValues,
  registerRootContext,
  RootContext,
  stream_context,
} from '@gcoredev/proxy-wasm-sdk-as/assembly';
import { readStringFields } from './config';

const DEFAULT_NAME = 'resp-header-demo';
const DEFAULT_VALUE = 'added by our filter';

class HeaderRoot extends RootContext {
  headerName: string = DEFAULT_NAME;
  headerValue: string = DEFAULT_VALUE;

  onConfigure(configurationSize: u32): bool {
    if (!super.onConfigure(configurationSize)) return false;
    const raw = this.getConfiguration();
    if (raw.length == 0) return true;
    const fields = readStringFields(raw);
    if (fields == null) {
      // Envoy fails the plugin when onConfigure returns false; so do we, loudly.
      log(LogLevelValues.error, 'header-filter: configuration is not a JSON object of strings: ' + raw);
      return false;
    }
    if (fields.has('name') && fields.has('value')) {
      this.headerName = fields.get('name');
      this.headerValue = fields.get('value');
    }
    return true;
  }
}

// Per-stream dispatch, kept lean on purpose. The SDK would give every stream a Context object in its
// context map and build half a dozen debug strings (and two joins of the map's keys) per stream, which
// made this filter cost more than the proxying around it. This filter only reacts to response headers,
// so it tracks stream ids itself and answers the other stream callbacks with Continue; the SDK still
// provides the root context, the configuration and the host calls. These exports shadow the SDK's.
// (They also avoid the SDK's proxy_on_done/on_delete, which trap on the root context id that Envoy,
// and meshwasm, pass at plugin shutdown.)
const streams = new Set<u32>();
let settings: HeaderRoot | null = null;

export function proxy_on_context_create(context_id: u32, root_context_id: u32): void {
  if (root_context_id == 0) {
    settings = ensureRootContext(context_id) as HeaderRoot;
  } else {
    streams.add(context_id);
  }
}

export function proxy_on_response_headers(context_id: u32, headers: u32, end_of_stream: u32): u32 {
  const root = settings;
  if (root != null && streams.has(context_id)) {
    stream_context.headers.response.add(root.headerName, root.headerValue);
  }
  return FilterHeadersStatusValues.Continue;
}

export function proxy_on_request_headers(context_id: u32, headers: u32, end_of_stream: u32): u32 {
  return FilterHeadersStatusValues.Continue;
}

export function proxy_on_request_body(context_id: u32, body_buffer_length: u32, end_of_stream: u32): u32 {
  return FilterDataStatusValues.Continue;
}

export function proxy_on_request_trailers(context_id: u32, trailers: u32): u32 {
  return FilterTrailersStatusValues.Continue;
}

export function proxy_on_response_body(context_id: u32, body_buffer_length: u32, end_of_stream: u32): u32 {
  return FilterDataStatusValues.Continue;
}

export function proxy_on_response_trailers(context_id: u32, trailers: u32): u32 {
  return FilterTrailersStatusValues.Continue;
}

export function proxy_on_done(context_id: u32): u32 {
  if (streams.has(context_id)) return 1;
  return getRootContext(context_id).onDone() ? 1 : 0;
}

export function proxy_on_log(context_id: u32): void {}

export function proxy_on_delete(context_id: u32): void {
  streams.delete(context_id);
}

registerRootContext((contextId: u32): RootContext => new HeaderRoot(contextId), 'my_root_id');
