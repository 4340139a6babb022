import type { LogBatch } from '../log/types.js';

/** How many resources the log line of an applied batch names; the rest are counted. */
export const NAMED_RESOURCES = 5;

/**
 * The fields of the `change applied` log line: the batch's last offset and source, and the resources it
 * changed as `weft log tail` shows them ("upsert Service bookstore/bookstore"), the first few by name and
 * the rest as a count, so that a start-up batch of thousands stays one short line.
 */
export function describeApplied(batch: LogBatch): Record<string, unknown> {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const e of batch.events) {
    const name = `${e.op} ${e.kind} ${e.key}`;
    if (seen.has(name)) continue;
    seen.add(name);
    if (names.length < NAMED_RESOURCES) names.push(name);
  }
  const last = batch.events[batch.events.length - 1];
  const sources = [...new Set(batch.events.map((e) => e.source))];
  return {
    offset: last?.offset ?? null,
    source: sources.length === 1 ? sources[0] : sources,
    events: batch.events.length,
    resources: names,
    ...(seen.size > names.length ? { more: seen.size - names.length } : {}),
  };
}
