import type { EncodedEvent, MeshEvent } from '../log/types.js';
import { RESOURCE_KINDS, type ResourceKind } from '../model/types.js';
import { sameCanonicalJson } from '../derive/canonical.js';
import { Catalog, type RestoredResource } from './catalog.js';
import { CatalogError } from './errors.js';
import type { Provenance } from './types.js';

/** A body as the fold holds it: canonical JSON bytes (encoded events) or the parsed value (decoded ones). */
type Body = Uint8Array | object;

/** What the fold knows of one resource: its latest body and source, and its provenance as a live fold would have it. */
interface Slot {
  readonly kind: ResourceKind;
  readonly key: string;
  /** Current body; undefined once deleted. */
  body: Body | undefined;
  source: string;
  /** Offset of the latest event for this resource (to report a bad body against the right event). */
  offset: number;
  /** Provenance as of the last finished batch. */
  prov: Provenance | undefined;
  /** Batch number of the last batch that touched the slot; `orig` and `pending` belong to it. */
  batch: number;
  /** Body at the start of that batch. */
  orig: Body | undefined;
  /** The batch's last event that changed the content (what the catalog journals as `last`). */
  pending: Provenance | undefined;
}

const KIND_SET: ReadonlySet<string> = new Set(RESOURCE_KINDS);

/**
 * The start-up replay: folds a whole log into a Catalog while parsing only each resource's last body.
 *
 * The mesh state at a point depends only on the last event of each resource, so the fold scans envelopes
 * (kind, key, op, source, offset; bodies left as their canonical JSON bytes), keeps one slot per resource
 * and parses the surviving bodies at the end — on a churning log a small share of them. What it builds equals
 * a batch-by-batch `apply` of the same log (a property test holds it to that) in everything but one thing:
 *  - resources, their sources, every index and `lastOffset`: equal;
 *  - a resource's provenance: equal. It is the last event, in the last batch whose net effect changed the
 *    resource's content, that changed it; content is compared on the canonical JSON bytes (equal bytes,
 *    equal content), batch by batch, exactly as the catalog's journal does;
 *  - index entries, and the Endpoints the catalog derives from pods (catalog/endpoints.ts): their
 *    provenance is not reconstructed (an entry's last change can come from any event of any resource that
 *    ever touched it, which only a full fold sees); it is recorded from the start on. `weft replay
 *    --explain` folds exactly when it needs it.
 * A body replaced by a later event is never parsed or checked: every record is CRC-checked and every
 * envelope decoded and checked by the log, and bodies were canonical JSON when appended.
 */
export class CompactingFold {
  private readonly slots = new Map<ResourceKind, Map<string, Slot>>();
  private readonly touched: Slot[] = [];
  private batchNo = 0;
  private lastOffset = -1;
  private eventCount = 0;

  /** Events folded so far. */
  get events(): number {
    return this.eventCount;
  }

  /** Offset of the last event folded, or -1. */
  get offset(): number {
    return this.lastOffset;
  }

  /** Folds one batch of the log, in log order. */
  add(events: readonly (EncodedEvent | MeshEvent)[]): void {
    const batch = ++this.batchNo;
    const touched = this.touched;
    for (const ev of events) {
      if (!(ev.offset > this.lastOffset)) {
        throw new CatalogError(
          'CATALOG_OFFSET_ORDER',
          `event at offset ${ev.offset} (${ev.kind} ${ev.key}): offset is not after ${this.lastOffset}; offsets must increase strictly`,
        );
      }
      this.lastOffset = ev.offset;
      this.eventCount++;
      if (!KIND_SET.has(ev.kind)) {
        throw new CatalogError('CATALOG_UNKNOWN_KIND', `event at offset ${ev.offset}: unknown kind "${String(ev.kind)}"; expected one of ${RESOURCE_KINDS.join(', ')}`);
      }
      const next = bodyOf(ev);
      let byKey = this.slots.get(ev.kind);
      if (byKey === undefined) this.slots.set(ev.kind, (byKey = new Map()));
      let slot = byKey.get(ev.key);
      if (slot === undefined) {
        // A delete of what does not exist changes nothing (as in the catalog).
        if (next === undefined) continue;
        slot = { kind: ev.kind, key: ev.key, body: undefined, source: ev.source, offset: ev.offset, prov: undefined, batch: 0, orig: undefined, pending: undefined };
        byKey.set(ev.key, slot);
      }
      if (slot.batch !== batch) {
        slot.batch = batch;
        slot.orig = slot.body;
        touched.push(slot);
      }
      if (!sameBody(slot.body, next)) slot.pending = { offset: ev.offset, time: ev.time, source: ev.source };
      slot.body = next;
      slot.offset = ev.offset;
      if (next !== undefined) slot.source = ev.source;
    }
    // The batch's net effect decides provenance: changed and changed back inside one batch keeps the old one.
    for (const slot of touched) {
      if (slot.body === undefined) {
        slot.prov = undefined;
        this.slots.get(slot.kind)?.delete(slot.key);
      } else if (!sameBody(slot.orig, slot.body)) {
        slot.prov = slot.pending;
      }
      slot.orig = undefined;
      slot.pending = undefined;
    }
    touched.length = 0;
  }

  /** Number of resources that exist at the end of what was folded. */
  get resources(): number {
    let n = 0;
    for (const byKey of this.slots.values()) n += byKey.size;
    return n;
  }

  /** Parses the surviving bodies and builds the catalog (see Catalog.restore for the checks). */
  finish(): Catalog {
    const kept: RestoredResource[] = [];
    let allParsed = true;
    for (const byKey of this.slots.values()) {
      for (const slot of byKey.values()) {
        if (!(slot.body instanceof Uint8Array)) allParsed = false;
        kept.push({ kind: slot.kind, key: slot.key, body: parsed(slot), source: slot.source, prov: slot.prov });
      }
    }
    return Catalog.restore(kept, this.lastOffset, { bodiesFromJson: allParsed });
  }
}

function bodyOf(ev: EncodedEvent | MeshEvent): Body | undefined {
  if (ev.op !== 'upsert') return undefined;
  const body = ev.body;
  if (body instanceof Uint8Array) return body.length === 0 ? undefined : body;
  return typeof body === 'object' && body !== null ? body : undefined;
}

/** Whether two bodies hold the same content: bytes of canonical JSON compare as bytes. */
function sameBody(a: Body | undefined, b: Body | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && Buffer.compare(a, b) === 0;
  return sameCanonicalJson(valueOf(a), valueOf(b));
}

function valueOf(b: Body): unknown {
  return b instanceof Uint8Array ? JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) : b;
}

function parsed(slot: Slot): unknown {
  const b = slot.body as Body;
  if (!(b instanceof Uint8Array)) return b;
  try {
    return valueOf(b);
  } catch (err) {
    throw new CatalogError(
      'CATALOG_BAD_EVENT',
      `event at offset ${slot.offset} (${slot.kind} ${slot.key}): body is not JSON (${(err as Error).message}); the log holds a body no writer of Weft produces`,
    );
  }
}
