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

/**
 * One event with its envelope decoded and checked (as decodeBatch checks it) and its body left undecoded.
 * For scans that look at every event but need the bodies of only a few: a replay that keeps only the last
 * event of each resource parses ~2% of a churning log's bodies.
 */
export interface EncodedEvent {
  readonly v: number;
  readonly offset: number;
  readonly time: number;
  readonly source: string;
  readonly op: Op;
  readonly kind: ResourceKind;
  readonly key: string;
  /** The body's canonical JSON bytes, a view into the batch's bytes (not a copy); empty for a delete. */
  readonly body: Uint8Array;
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
  /**
   * Optional: like read(), but each batch's envelopes decoded and checked with the bodies left as their
   * canonical JSON bytes. A start-up replay keeps only each resource's last event and parses only those
   * bodies (catalog/compact.ts); a backend without it is read through read().
   */
  readEncoded?(from?: number): AsyncIterable<readonly EncodedEvent[]>;
  /** The offset the next appended event will get (the first offset past the last event). */
  head(): number;
  close(): Promise<void>;
}

/** Opens a log from a location: `memory:`, `file:<dir>` or a bare directory, `kafka:...` (plugin). */
export interface EventLogBackend {
  /** URI scheme this backend answers to, e.g. "file", "memory", "kafka". */
  readonly scheme: string;
  /**
   * `keepRecords`: a hint that the caller reads the whole log once right after the open (the start-up
   * replay); a backend may hold what its open already read and checked for that read. Others ignore it.
   */
  open(location: string, options?: { readOnly?: boolean; keepRecords?: boolean }): Promise<EventLog>;
}
