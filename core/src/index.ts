/**
 * @weft/core public API. Plugins import only from here.
 */
export * from './errors.js';
export * from './log/types.js';
export * from './model/types.js';
export * from './catalog/types.js';
export * from './derive/types.js';
export * from './certs/types.js';
export * from './xds/adapter.js';
export * from './plugin/api.js';
export * from './plugin/errors.js';
export * from './observe/logger.js';
export * from './xds/encode.js';
export * from './certs/identity.js';
export * from './certs/clock.js';
export * from './certs/manager.js';
export * from './plugin/loader.js';
export * from './runtime/config.js';
