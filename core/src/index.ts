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
export * from './xds/wire.js';
export * from './xds/protocol.js';
export * from './xds/identity.js';
export * from './xds/server.js';
export * from './actors/proxy-machine.js';
export * from './actors/supervisor.js';
export * from './observe/metrics.js';
export * from './observe/debug.js';
export * from './catalog/catalog.js';
export * from './catalog/errors.js';
export { INDEX_NAMES } from './catalog/indexes.js';
export * from './derive/engine.js';
export * from './derive/errors.js';
export { canonicalJsonOf, contentHash } from './derive/canonical.js';
export * from './model/errors.js';
export { normalizeManifest, MANIFEST_KINDS } from './model/validate.js';
export type { NormalizedResource, IgnoredDocument, ParseResult, DocumentOrigin } from './model/validate.js';
export { parseDuration, isCidr, isIpAddress } from './model/values.js';
export { appProtocolFromPortName, MONITORED_BY_LABEL, PROXY_UUID_LABEL } from './model/kinds-core.js';
