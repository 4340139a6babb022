import { PluginConfigError } from '@weft/core';

/** The plugin's config section (plugins[i].config in weft.yaml), normalized. */
export interface KafkaPluginConfig {
  /** Client id on every connection, so broker logs and quotas can tell Weft apart. */
  readonly clientId: string;
  /** TCP connect timeout per broker. */
  readonly connectionTimeoutMs: number;
  /** Upper bound for an open or an append against brokers that do not answer; then LOG_UNAVAILABLE. */
  readonly requestTimeoutMs: number;
  /** Create the topic (one partition) when a writable open finds it missing. */
  readonly createTopic: boolean;
  readonly replicationFactor: number;
  /** Partitions of a created topic; only 1 is accepted, since the log's order is the partition's. */
  readonly partitions: 1;
  /** The topic's max.message.bytes when created: the largest batch the log can take. */
  readonly maxBatchBytes: number;
  /**
   * Replicas on one topic elect one writer (consumer group `<topic>-writer`); only it runs the sources and
   * appends, through a transactional producer that fences a replaced writer. Off: every writable open appends.
   */
  readonly election: boolean;
  /** How long a silent writer (frozen, cut off, crashed) keeps the role before another replica takes over. */
  readonly writerSessionTimeoutMs: number;
  /** This replica's name in /debug and the weft_log_writer metric; empty: `<hostname>-<pid>`. */
  readonly replicaId: string;
}

export const DEFAULT_KAFKA_CONFIG: KafkaPluginConfig = {
  clientId: 'weft',
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 15_000,
  createTopic: true,
  replicationFactor: 1,
  partitions: 1,
  maxBatchBytes: 16 * 1024 * 1024,
  election: true,
  writerSessionTimeoutMs: 10_000,
  replicaId: '',
};

const FIELDS = Object.keys(DEFAULT_KAFKA_CONFIG);

function int(r: Record<string, unknown>, key: keyof KafkaPluginConfig, min: number, max: number): number {
  const v = r[key];
  if (v === undefined || v === null) return DEFAULT_KAFKA_CONFIG[key] as number;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PluginConfigError(key, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

export function validateKafkaConfig(raw: unknown): KafkaPluginConfig {
  if (raw === undefined || raw === null) return DEFAULT_KAFKA_CONFIG;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PluginConfigError('', `must be a mapping with any of ${FIELDS.join(', ')}`);
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!FIELDS.includes(k)) throw new PluginConfigError(k, `unknown field; expected one of ${FIELDS.join(', ')}`);
  }
  const clientId = r['clientId'] ?? DEFAULT_KAFKA_CONFIG.clientId;
  if (typeof clientId !== 'string' || !/^[A-Za-z0-9._-]{1,255}$/.test(clientId)) {
    throw new PluginConfigError('clientId', `must be letters, digits, ".", "_" or "-" (got ${JSON.stringify(clientId)})`);
  }
  const createTopic = r['createTopic'] ?? DEFAULT_KAFKA_CONFIG.createTopic;
  if (typeof createTopic !== 'boolean') {
    throw new PluginConfigError('createTopic', `must be true or false (got ${JSON.stringify(createTopic)})`);
  }
  const election = r['election'] ?? DEFAULT_KAFKA_CONFIG.election;
  if (typeof election !== 'boolean') {
    throw new PluginConfigError('election', `must be true or false (got ${JSON.stringify(election)})`);
  }
  const replicaId = r['replicaId'] ?? DEFAULT_KAFKA_CONFIG.replicaId;
  if (typeof replicaId !== 'string' || !/^[A-Za-z0-9._:-]{0,253}$/.test(replicaId)) {
    throw new PluginConfigError('replicaId', `must be letters, digits, ".", "_", ":" or "-" (got ${JSON.stringify(replicaId)})`);
  }
  const partitions = r['partitions'] ?? 1;
  if (partitions !== 1) {
    throw new PluginConfigError(
      'partitions',
      `must be 1 (got ${JSON.stringify(partitions)}): the event log's total order is the order of one partition; ` +
        'remove the field or set it to 1',
    );
  }
  return {
    clientId,
    connectionTimeoutMs: int(r, 'connectionTimeoutMs', 100, 120_000),
    requestTimeoutMs: int(r, 'requestTimeoutMs', 500, 600_000),
    createTopic,
    replicationFactor: int(r, 'replicationFactor', 1, 32),
    partitions: 1,
    maxBatchBytes: int(r, 'maxBatchBytes', 1024, 1024 * 1024 * 1024),
    election,
    // The broker's default group.min.session.timeout.ms is 6 s and group.max.session.timeout.ms 30 min.
    writerSessionTimeoutMs: int(r, 'writerSessionTimeoutMs', 1000, 1_800_000),
    replicaId,
  };
}
