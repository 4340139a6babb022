import { ConfigError } from '@weft/core';

export interface KafkaLocation {
  /** "host:port" bootstrap addresses, in the order given. */
  readonly brokers: readonly string[];
  readonly topic: string;
}

// Kafka's own rule for topic names (legal characters, at most 249 of them; "." and ".." are reserved).
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** Parses `kafka://host:port[,host:port...]/topic`. */
export function parseKafkaLocation(location: string): KafkaLocation {
  const fix = 'write kafka://<host>:<port>[,<host>:<port>...]/<topic>, e.g. kafka://127.0.0.1:9092/weft-events';
  const m = /^kafka:\/\/([^/]*)\/(.*)$/i.exec(location);
  if (m === null) throw new ConfigError(`event log location "${location}" is not a Kafka location; ${fix}`);
  const brokers = m[1]!.split(',').map((b) => b.trim());
  for (const b of brokers) {
    const hp = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(b);
    if (hp === null || Number(hp[2]) < 1 || Number(hp[2]) > 65535) {
      throw new ConfigError(`event log location "${location}": broker "${b}" is not host:port; ${fix}`);
    }
  }
  const topic = m[2]!;
  if (!TOPIC.test(topic) || topic === '.' || topic === '..') {
    throw new ConfigError(
      `event log location "${location}": topic "${topic}" is not a valid Kafka topic name ` +
        '(letters, digits, ".", "_", "-", at most 249 characters)',
    );
  }
  return { brokers, topic };
}
