// The seed's example filter: adds one response header. Its name and value come from the plugin
// configuration, a JSON object such as {"name":"hello","value":"hello details"}; with no configuration
// (or one that lacks either field) it adds `resp-header-demo: added by our filter`.
export * from '@gcoredev/proxy-wasm-sdk-as/assembly/proxy';
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

class HeaderStream extends Context {
  private readonly settings: HeaderRoot;

  constructor(contextId: u32, root: HeaderRoot) {
    super(contextId, root);
    this.settings = root;
  }

  onResponseHeaders(headers: u32, endOfStream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add(this.settings.headerName, this.settings.headerValue);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new HeaderRoot(contextId), 'my_root_id');
