import type { ResourceKind } from '../model/types.js';

/** Version of the event envelope schema (protos/weft/event/v1/event.proto). */
export const EVENT_SCHEMA_VERSION = 1;

export type Op = 'upsert' | 'delete';

/**
 * What a source hands to the log. `body` is the normalized resource (model/types.ts), never a raw manifest,
 * so the projection does not validate again. A delete carries no body.
 */
export interface EventInput {
  readonly source: string;
  readonly op: Op;
  readonly kind: ResourceKind;
  /** "namespace/name"; cluster-scoped kinds (Namespace, MeshConfig is namespaced) use "name". */
  readonly key: string;
  readonly body?: unknown;
  /** Milliseconds since the epoch; the log fills it in when absent. */
  readonly time?: number;
}

/** An event as stored: the log assigns `offset` (monotonic, unique within a log) and `time`. */
export interface MeshEvent {
  readonly v: number;
  readonly offset: number;
  readonly time: number;
  readonly source: string;
  readonly op: Op;
  readonly kind: ResourceKind;
  readonly key: string;
  readonly body?: unknown;
}

/** Events appended together; a batch is applied atomically by the projection. */
export interface LogBatch {
  readonly events: readonly MeshEvent[];
}

export interface Subscription {
  /** Stops delivery; resolves once no handler call is running. */
  close(): Promise<void>;
}

/**
 * The only input of the mesh state. Implementations: memory, file (embedded default), kafka (plugin).
 * Offsets increase strictly; they need not be contiguous across batches, but they are within one batch.
 */
export interface EventLog {
  /** Appends one batch atomically; resolves with the events' offsets only once the batch is durable. */
  append(batch: readonly EventInput[]): Promise<number[]>;
  /** Batches whose events have offsets >= `from`, in order, up to the head at the time of the call. */
  read(from?: number): AsyncIterable<LogBatch>;
  /**
   * Delivers every batch from `from` on, then follows the tail. Handler calls never overlap; a batch is
   * delivered only after the handler's promise for the previous one settled.
   */
  follow(from: number, handler: (batch: LogBatch) => void | Promise<void>): Subscription;
  /** The offset the next appended event will get (the first offset past the last event). */
  head(): number;
  close(): Promise<void>;
}

/** Opens a log from a location: `memory:`, `file:<dir>` or a bare directory, `kafka:...` (plugin). */
export interface EventLogBackend {
  /** URI scheme this backend answers to, e.g. "file", "memory", "kafka". */
  readonly scheme: string;
  open(location: string, options?: { readOnly?: boolean }): Promise<EventLog>;
}
