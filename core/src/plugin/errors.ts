import { WeftError } from '../errors.js';

/** A plugin's config section is wrong; `path` is relative to the section ("" for the section itself). */
export class PluginConfigError extends WeftError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('PLUGIN_CONFIG_INVALID', path === '' ? message : `${path}: ${message}`);
    this.path = path;
  }
}

/** A plugin could not be loaded or registered; the message names the plugin and the config path. */
export class PluginLoadError extends WeftError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PLUGIN_LOAD_FAILED', message, options);
  }
}
