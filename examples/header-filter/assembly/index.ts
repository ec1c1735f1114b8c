// The seed's example filter: adds one response header. Its name and value come from the plugin
// configuration, a JSON object such as {"name":"hello","value":"hello details"}; with no configuration
// (or one that lacks either field) it adds `resp-header-demo: added by our filter`.
export * from '@gcoredev/proxy-wasm-sdk-as/assembly/proxy';
import {
  proxy_on_delete as sdkOnDelete,
  proxy_on_done as sdkOnDone,
} from '@gcoredev/proxy-wasm-sdk-as/assembly/exports';
import { getRootContext } from '@gcoredev/proxy-wasm-sdk-as/assembly/runtime';
import {
  Context,
  FilterHeadersStatusValues,
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

  createContext(contextId: u32): Context {
    return new HeaderStream(contextId, this);
  }
}

// The SDK keeps only stream contexts in its context map (its FastEdge host never ends the root
// context), so its proxy_on_done/proxy_on_delete trap on the root context id that Envoy, and meshwasm,
// pass at plugin shutdown. These two exports shadow the SDK's and route the root id to the root context.
const streamIds = new Set<u32>();

export function proxy_on_done(context_id: u32): u32 {
  if (streamIds.has(context_id)) return sdkOnDone(context_id);
  return getRootContext(context_id).onDone() ? 1 : 0;
}

export function proxy_on_delete(context_id: u32): void {
  if (!streamIds.has(context_id)) return;
  streamIds.delete(context_id);
  sdkOnDelete(context_id);
}

class HeaderStream extends Context {
  private readonly settings: HeaderRoot;

  constructor(contextId: u32, root: HeaderRoot) {
    super(contextId, root);
    this.settings = root;
    streamIds.add(contextId);
  }

  onResponseHeaders(headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add(this.settings.headerName, this.settings.headerValue);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new HeaderRoot(contextId), 'my_root_id');
