/** The event log's public API (types.ts, the contract, is exported by the core barrel itself). */
export { canonicalJson, CanonicalJsonError, decodeBatch, decodeEnvelopes, decodeEventBody, encodeBatch, summarizeBatch, type BatchSummary } from './codec.js';
export { crc32c } from './crc32c.js';
export * from './errors.js';
export { MemoryEventLog, type MemoryEventLogOptions } from './memory-log.js';
export { FileEventLog, DEFAULT_SEGMENT_BYTES, type FileEventLogOptions } from './file-log.js';
export { inspectLog, type LogInspection, type LogProblem, type SegmentReport } from './inspect.js';
export { createFileLogBackend, createMemoryLogBackend, fileLogBackend, fileLogDir, memoryLogBackend } from './backends.js';
export { encodePrepared, prepareBatch, prepareEvent, type PreparedEvent } from './codec.js';
export { batchEnd, Follower, Notifier, RecentBatches, sliceBatch, type FollowSource } from './follow.js';
