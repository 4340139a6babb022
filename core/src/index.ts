/**
 * @weft/core public API: what a plugin needs and nothing of how the core runs. Extension points and their
 * tokens, the mesh model, the event log's types (and the codec a log backend shares), the derivation
 * reader, encoding helpers for proxy adapters, policy queries, certificate identities. Plugins import only
 * from here (core/src/plugin/boundaries.test.ts holds them to it), so what is not exported here — the
 * runtime's composition, the catalog, the engine, the servers, the actors — can change without breaking a
 * plugin. Tests and benchmarks take those from '@weft/core/testing'.
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
// The loggers that discard and capture are here too: a plugin's tests hand them to what takes a Logger.
export * from './observe/logger.js';
export * from './xds/encode.js';
export * from './certs/identity.js';
export { canonicalJsonOf, contentHash } from './derive/canonical.js';
export { parseManifests } from './model/parse.js';
export * from './model/manifest-folder.js';
export * from './model/errors.js';
export { normalizeManifest, MANIFEST_KINDS } from './model/validate.js';
export type { NormalizedResource, IgnoredDocument, ParseResult, DocumentOrigin } from './model/validate.js';
export { danglingReferences, unselectedServices } from './model/references.js';
export type { DanglingReference, ReferringResource, SetWarning } from './model/references.js';
export { parseDuration, isCidr, isIpAddress } from './model/values.js';
export { appProtocolFromPortName, MONITORED_BY_LABEL, PROXY_UUID_LABEL } from './model/kinds-core.js';
// What a log backend outside the core (Kafka) shares with the built-in ones: the record codec, the
// errors a log throws, the follow machinery.
export * from './log/errors.js';
export { decodeBatch, decodeEnvelopes, encodePrepared, prepareBatch, prepareEvent, type PreparedEvent } from './log/codec.js';
export { batchEnd, Follower, Notifier, RecentBatches, sliceBatch, type FollowSource } from './log/follow.js';
export { envoyType, envoyProtos, weftProtos } from '@weft/protos';
// Generated types of the Envoy API in protobufjs object form, what translators build (types only).
export type { envoy, google, xds, EnvoyMessages, TypedAny } from '@weft/protos';
export * from './xds/proto-helpers.js';
export * from './xds/typed.js';
export * from './policy/index.js';
