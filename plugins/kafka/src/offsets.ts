/**
 * Weft offsets on Kafka. Each batch is one Kafka message whose events carry the relative offsets 0..n-1;
 * an event's Weft offset is the number of events in all messages before its message plus its index. Every
 * reader derives the same offsets from the partition's order, so writers need no coordination, and offsets
 * are contiguous (head() - 1 is the last event, as the runtime's lag and catch-up checks assume). The price:
 * a reader counts every message once (open scans the topic: envelopes only) and keeps this index, two
 * numbers per batch, to map an offset back to its message. The topic must keep every message (retention
 * off); a topic whose head was deleted is refused at open.
 *
 * A batch can be stored twice: an append whose outcome was unknown (no answer to the commit) is retried
 * with the same batch id (the message header `weft-batch`). The index drops a message whose id one of the
 * previous DEDUPE_WINDOW messages carried: it counts no events and no reader delivers it. Every reader goes
 * through the messages in the same order, so all drop the same copies and agree on the offsets.
 */

/** How many of the last messages' batch ids a duplicate is looked for among; a retry lands well within. */
export const DEDUPE_WINDOW = 16_384;

/** Kafka offsets travel as decimal strings; these stay far below 2^53. */
export function kafkaOffsetNumber(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what}: Kafka offset "${text}" is not a whole number below 2^53`);
  return n;
}

/** Where each message of the partition sits in Weft offsets, for the messages read so far. */
export class MessageIndex {
  /** Kafka offset of each message, increasing. */
  private readonly kafka: number[] = [];
  /** Weft offset of each message's first event. */
  private readonly first: number[] = [];
  private events = 0;
  private complete = 0;
  /** Batch id -> first Weft offset, for the last DEDUPE_WINDOW messages with an id; `order` is their FIFO. */
  private readonly ids = new Map<string, number>();
  private readonly order: string[] = [];
  private orderHead = 0;
  /** Kafka offsets of the dropped copies (rare: one per append retried after an unknown outcome). */
  private readonly droppedAt = new Set<number>();

  /** The Weft offset the next message's first event gets: the log's head. */
  get head(): number {
    return this.events;
  }

  /** Kafka offset up to which every message is indexed. */
  get kafkaEnd(): number {
    return this.complete;
  }

  get messages(): number {
    return this.kafka.length;
  }

  /**
   * Adds the message at `kafkaOffset` holding `count` events and returns its first Weft offset. The caller
   * must have seen every message between kafkaEnd and `kafkaOffset` (a reader going in order from at most
   * kafkaEnd): Kafka offsets may skip (transaction markers) but no message may be missed. A message already
   * indexed gives its known offset; a different count for it means the topic changed under the log. A
   * message carrying the id of a recent one is a stored duplicate: it is dropped (see dropped()) and the
   * first copy's first offset is returned.
   */
  add(kafkaOffset: number, count: number, id?: string): number {
    if (kafkaOffset >= this.complete) {
      if (id !== undefined) {
        const original = this.ids.get(id);
        if (original !== undefined) {
          this.droppedAt.add(kafkaOffset);
          this.complete = kafkaOffset + 1;
          return original;
        }
        this.ids.set(id, this.events);
        this.order.push(id);
        if (this.order.length - this.orderHead > DEDUPE_WINDOW) this.ids.delete(this.order[this.orderHead++]!);
        // Compact the FIFO now and then instead of shifting on every message.
        if (this.orderHead > DEDUPE_WINDOW) {
          this.order.splice(0, this.orderHead);
          this.orderHead = 0;
        }
      }
      const first = this.events;
      this.kafka.push(kafkaOffset);
      this.first.push(first);
      this.events += count;
      this.complete = kafkaOffset + 1;
      return first;
    }
    if (this.droppedAt.has(kafkaOffset)) return id === undefined ? -1 : (this.ids.get(id) ?? -1);
    const i = this.find(kafkaOffset);
    if (i < 0) throw new RangeError(`Kafka offset ${kafkaOffset} holds no message this log indexed`);
    const known = this.countAt(i);
    if (known !== count) throw new RangeError(`the message at Kafka offset ${kafkaOffset} held ${known} events when indexed, now ${count}`);
    return this.first[i]!;
  }

  /** The message at `kafkaOffset` is a stored duplicate of an earlier batch: no reader delivers it. */
  dropped(kafkaOffset: number): boolean {
    return this.droppedAt.has(kafkaOffset);
  }

  /** Stored duplicates dropped so far. */
  get duplicates(): number {
    return this.droppedAt.size;
  }

  /** First Weft offset of the message at `kafkaOffset`, or -1 when it is not indexed. */
  firstOf(kafkaOffset: number): number {
    const i = this.find(kafkaOffset);
    return i < 0 ? -1 : this.first[i]!;
  }

  /**
   * Kafka offset of the message holding Weft offset `offset`; kafkaEnd when it lies at or past the head
   * (the next message to be read from there).
   */
  messageFor(offset: number): number {
    if (offset >= this.events) return this.complete;
    let lo = 0;
    let hi = this.first.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.first[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.kafka[lo] ?? 0;
  }

  private countAt(i: number): number {
    return (this.first[i + 1] ?? this.events) - this.first[i]!;
  }

  private find(kafkaOffset: number): number {
    let lo = 0;
    let hi = this.kafka.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.kafka[mid]!;
      if (k === kafkaOffset) return mid;
      if (k < kafkaOffset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}
