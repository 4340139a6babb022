/**
 * '@weft/core/testing': what tests and benchmarks need beyond the plugin API in '@weft/core' — the runtime
 * composed in-process, the catalog and the engine, the servers, in-memory and file logs, loggers that
 * capture, the CLI's entry — and the shared golden and negative suites of the proxy adapters. A plugin's
 * test may use it; its shipped code may not (core/src/plugin/boundaries.test.ts), so these can change
 * without breaking a plugin. Nothing here is also exported by '@weft/core': each name has one home.
 */
export * from './golden.js';
export * from './wire.js';
export * from './invalid.js';
export * from './gc.js';
export * from '../certs/clock.js';
export * from '../certs/manager.js';
export * from '../plugin/loader.js';
export * from '../runtime/config.js';
export * from '../runtime/weft.js';
export * from '../runtime/backends.js';
export * from '../runtime/cert-push.js';
export * from '../xds/identity.js';
export * from '../xds/server.js';
export { listenBacklog } from '../xds/listener.js';
// The session and the response writer alone, for the per-push micro-benchmark (bench:session).
export { XdsSession } from '../xds/protocol.js';
export { encodeDeltaResponse, encodeSotwResponse, type AdsRequest, type AdsResponse } from '../xds/wire.js';
export * from '../observe/metrics.js';
export * from '../observe/debug.js';
export * from '../catalog/catalog.js';
export * from '../catalog/compact.js';
export { INDEX_NAMES } from '../catalog/indexes.js';
export * from '../derive/engine.js';
export {
  canonicalJson,
  CanonicalJsonError,
  decodeEventBody,
  encodeBatch,
  summarizeBatch,
  type BatchSummary,
  MemoryEventLog,
  type MemoryEventLogOptions,
  FileEventLog,
  DEFAULT_SEGMENT_BYTES,
  type FileEventLogOptions,
  createFileLogBackend,
  createMemoryLogBackend,
  fileLogBackend,
  fileLogDir,
  memoryLogBackend,
} from '../log/index.js';
export * from '../replay/index.js';
// The behaviour every EventLog must have, for backends outside the core (loads node:test only when called).
export { eventLogConformance } from '../log/testdata/conformance.js';
// The `weft` command in-process, as the bin runs it.
export { main as cliMain } from '../cli/main.js';
