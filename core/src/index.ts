/**
 * @weft/core public API. Plugins import only from here.
 */
export * from './errors.js';
export * from './retry.js';
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
export * from './catalog/compact.js';
export * from './catalog/errors.js';
export { INDEX_NAMES } from './catalog/indexes.js';
export * from './derive/engine.js';
export * from './derive/errors.js';
export { canonicalJsonOf, contentHash } from './derive/canonical.js';
export * from './runtime/weft.js';
export * from './runtime/backends.js';
export { parseManifests } from './model/parse.js';
export * from './model/manifest-folder.js';
export * from './model/errors.js';
export { normalizeManifest, MANIFEST_KINDS } from './model/validate.js';
export type { NormalizedResource, IgnoredDocument, ParseResult, DocumentOrigin } from './model/validate.js';
export { danglingReferences, unselectedServices } from './model/references.js';
export type { DanglingReference, ReferringResource, SetWarning } from './model/references.js';
export { parseDuration, isCidr, isIpAddress } from './model/values.js';
export { appProtocolFromPortName, MONITORED_BY_LABEL, PROXY_UUID_LABEL } from './model/kinds-core.js';
export * from './log/index.js';
export { envoyType, envoyProtos, weftProtos } from '@weft/protos';
// Generated types of the Envoy API in protobufjs object form, what translators build (types only).
export type { envoy, google, xds, EnvoyMessages, TypedAny } from '@weft/protos';
export * from './replay/index.js';
export * from './observe/debug-routes.js';
export * from './runtime/cert-push.js';
export * from './xds/secrets.js';
export * from './xds/proto-helpers.js';
export * from './policy/index.js';
export * as testing from './testing/index.js';
// The behaviour every EventLog must have, for backends outside the core (loads node:test only when called).
export { eventLogConformance } from './log/testdata/conformance.js';
