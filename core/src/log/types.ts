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

/**
 * Options of one append. `id` names the batch: a caller that retries an append whose outcome is unknown (the
 * log may have stored it) passes the same id again, and a log that can store a batch twice (Kafka) keeps
 * only the first copy, so the batch takes effect once. Logs that cannot store a batch twice ignore it.
 */
export interface AppendOptions {
  readonly id?: string;
}

/** Whether this replica may append: exactly one replica of a shared log is the writer at a time. */
export type LogRole = 'writer' | 'follower';

export interface LogLeadershipState {
  readonly role: LogRole;
  /** This replica's name among the log's replicas. */
  readonly replicaId: string;
  /** The writer's replica name when known (this replica's when it is the writer); null while none is known. */
  readonly writerId: string | null;
}

/**
 * Who may append to a log shared by replicas (the Kafka log). A log without it is always its own writer (the
 * file and memory logs have one process). The runtime runs the resource sources only while `role` is writer.
 */
export interface LogLeadership {
  state(): LogLeadershipState;
  /** Called on every change of the state; returns the unsubscribe. */
  onChange(listener: (state: LogLeadershipState) => void): () => void;
}

/**
 * Whether a log kept elsewhere (Kafka) is in contact with its storage. A follower cut off from it sees no
 * new event, so its lag reads 0 as on a quiet log: readiness needs this to tell the two apart.
 */
export interface LogReachability {
  /** False once the storage has not answered for longer than the log's bound, or the log cannot go on. */
  readonly reachable: boolean;
  /** Milliseconds since the epoch of the last answer. */
  readonly lastContact: number;
  /** When unreachable: an error code (never a message: /readyz answers unauthenticated probes). */
  readonly reason?: string;
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
  append(batch: readonly EventInput[], options?: AppendOptions): Promise<number[]>;
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
  /** Optional: the writer election of a log shared by replicas; absent, this process is the only writer. */
  readonly leadership?: LogLeadership;
  /** Optional: contact with the storage of a log kept elsewhere; absent, the log is local and always reachable. */
  reachability?(): LogReachability;
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
