import { createHash } from 'node:crypto';
import { ADD_ORDER, TypeUrl, type EncodedResource, type ResourceSet } from './adapter.js';
import type { AdsRequest, AdsResponse, DeltaResponse, SotwResponse } from './wire.js';

/**
 * The xDS protocol state of one stream, as the "xDS REST and gRPC protocol" document describes it, kept free
 * of I/O: requests go in, responses to write come out. The proxy actor drives it; the server writes bytes.
 *
 * What the session believes the client has (`sent`) is what it last sent: after a NACK the client keeps its
 * last good config, and the session does not resend the same rejected bytes until the desired set changes.
 */

export type XdsMode = 'sotw' | 'delta';

/** Types whose empty subscription on the first request means "everything" (legacy wildcard). */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TypeUrl.Listener, TypeUrl.Cluster]);

/** Why a push happened: the log offsets of the events behind it and when the earliest was appended. */
export interface PushCause {
  readonly offsets: readonly number[];
  /** Milliseconds since the epoch; undefined when the push was not caused by an event (first sync, ACK). */
  readonly appendedAt: number | undefined;
}

export interface DesiredSet {
  readonly set: ResourceSet;
  /** Content hash of the whole set (the derivation's hash); unchanged hash => nothing to do. */
  readonly hash: string;
}

export interface PushRecord {
  readonly time: number;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly offsets: readonly number[];
  readonly sent: readonly string[];
  readonly removed: readonly string[];
}

export interface AckRecord {
  readonly time: number;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly version: string;
  readonly ack: boolean;
  readonly error?: string;
}

interface InFlight {
  readonly nonce: string;
  readonly version: string;
  readonly sentAt: number;
  readonly cause: PushCause;
}

interface SentEntry {
  readonly version: string;
  /** Kept for SotW so a deferred removal can resend the old resource; absent when learnt from the client. */
  readonly resource?: EncodedResource;
  readonly digest: EntryDigest;
}

interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  /** The wildcard came from an empty first request (legacy); it persists across later empty requests. */
  legacyWildcard: boolean;
  names: Set<string>;
  sent: Sent;
  /** Delta: subscribed names already reported absent in removed_resources. */
  absentReported: Set<string>;
  inflight: InFlight | undefined;
  /** Desired-set hash at which the client was last fully in sync; undefined forces a re-plan. */
  syncedHash: string | undefined;
  needsResponse: boolean;
  ackedVersion: string;
  ackedNonce: string;
  lastVersionSent: string;
  lastNack: { readonly nonce: string; readonly version: string; readonly message: string; readonly time: number } | undefined;
}

/** One type's part of a push: what to send, remove and report absent. */
interface Plan {
  st: TypeState;
  /** What the client should hold: the whole set for a wildcard, else the subscribed names the set has. */
  target: readonly EncodedResource[];
  upserts: EncodedResource[];
  removals: string[];
  absent: string[];
  respond: boolean;
}

export interface RequestOutcome {
  readonly typeUrl: string;
  readonly unknownType: boolean;
  /** A nonce that is neither the response in flight nor empty: ignored for ACK/NACK. */
  readonly stale: boolean;
  readonly subscriptionChanged: boolean;
  readonly ack?: { readonly nonce: string; readonly version: string; readonly sentAt: number; readonly cause: PushCause };
  readonly nack?: {
    readonly nonce: string;
    readonly version: string;
    readonly message: string;
    readonly sentAt: number;
    readonly cause: PushCause;
  };
}

export interface TypeSnapshot {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly names: readonly string[];
  readonly resourcesSent: number;
  readonly lastVersionSent: string;
  readonly ackedVersion: string;
  readonly inFlightNonce: string | null;
  readonly lastNack: { readonly nonce: string; readonly version: string; readonly message: string; readonly time: string } | null;
}

export interface SessionOptions {
  readonly mode: XdsMode;
  /** Types the proxy's adapter serves; requests for others are answered with nothing and reported. */
  readonly typeUrls: readonly string[];
  readonly historySize?: number;
  readonly now?: () => number;
  /**
   * Every change of a desired set comes with an invalidate() naming its type (the ADS server's case): a push
   * then asks only for the named types and those owing a response. Without it, a push asks for every type.
   */
  readonly invalidationsNameTypes?: boolean;
}

const MAX_CAUSE_OFFSETS = 64;

function versionOf(entries: Iterable<readonly [string, string]>): string {
  // One update of one string: a hash update per field cost more than the hashing itself.
  let text = '';
  for (const [name, version] of entries) text += `${name}\0${version}\n`;
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** A (name, version) pair's part of a type's version: 64 bits as four 16-bit lanes (small integers, no heap numbers). */
interface EntryDigest {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

/**
 * 64 bits of `name \0 version` from two 32-bit string hashes, each finished with murmur3's avalanche. Not a
 * cryptographic hash, and need not be: the version it feeds only tells the client which state it holds,
 * and a SHA-256 per entry (a new Hash object and a buffer each) was most of the cost of a first push.
 */
function entryDigest(name: string, version: string): EntryDigest {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  const text = `${name}\0${version}`;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 0x01000193);
    h2 = Math.imul(h2 ^ code, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  return { a: h1 >>> 16, b: h1 & 0xffff, c: h2 >>> 16, d: h2 & 0xffff };
}

/** murmur3's finalizer: every input bit moves every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * By resource: every session that sends a resource needs its digest, and a resource is sent to many proxies.
 * Kept only for a resource under its own name, the way resource sets key them.
 */
const resourceDigests = new WeakMap<EncodedResource, EntryDigest>();
function digestOf(name: string, version: string, resource: EncodedResource | undefined): EntryDigest {
  if (resource === undefined || resource.name !== name || resource.version !== version) return entryDigest(name, version);
  let d = resourceDigests.get(resource);
  if (d === undefined) {
    d = entryDigest(name, version);
    resourceDigests.set(resource, d);
  }
  return d;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/**
 * What the client holds of one type (name -> version), and the version of all of it: the XOR of each entry's
 * digest, kept up to date as entries come and go. It depends only on the entries (not on their order, nor on
 * the replica that computed it), and a response costs the entries it changes: hashing every entry of the
 * type, sorted, for each response was a third of a session's work per push. The version is informational
 * (delta's system_version_info, the version_info of a SotW type sent piecemeal); ACKs are matched by nonce.
 */
class Sent {
  private readonly entries = new Map<string, SentEntry>();
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private text: string | undefined;

  get size(): number {
    return this.entries.size;
  }

  get(name: string): SentEntry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /**
   * Records that the client holds `version` of `name`. `resource`, when given, is what was sent (its digest is
   * shared by every session sending it); `keep` holds on to it, for SotW's deferred removals.
   */
  set(name: string, version: string, resource?: EncodedResource, keep = false): void {
    const old = this.entries.get(name);
    if (old !== undefined) this.flip(old.digest);
    const digest = digestOf(name, version, resource);
    this.entries.set(name, keep && resource !== undefined ? { version, resource, digest } : { version, digest });
    this.flip(digest);
  }

  delete(name: string): void {
    const old = this.entries.get(name);
    if (old === undefined) return;
    this.entries.delete(name);
    this.flip(old.digest);
  }

  /** The version of everything held: 16 hex digits. */
  version(): string {
    this.text ??= hex4(this.a) + hex4(this.b) + hex4(this.c) + hex4(this.d);
    return this.text;
  }

  private flip(x: EntryDigest): void {
    this.a ^= x.a;
    this.b ^= x.b;
    this.c ^= x.c;
    this.d ^= x.d;
    this.text = undefined;
  }
}

/** The last `size` items, oldest first: a slot is overwritten, never shifted (a push per response and ACK). */
class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;
  constructor(private readonly size: number) {}
  push(item: T): void {
    if (this.items.length < this.size) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.size;
  }
  list(): readonly T[] {
    return this.items.length < this.size ? [...this.items] : [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}

export class XdsSession {
  readonly mode: XdsMode;
  private readonly served: ReadonlySet<string>;
  private readonly types = new Map<string, TypeState>();
  private readonly now: () => number;
  private nonceCounter = 0;
  /** Something may need sending: an invalidation, a subscription change, or an ACK freeing a blocked type. */
  private dirty = false;
  /** The last push left work behind because a type had a response in flight. */
  private blocked = false;
  /** Subscribed types in send order; rebuilt when a type is first requested. */
  private order: readonly string[] = [];
  /**
   * Types whose desired set may have moved since it was last planned; undefined means all of them (the
   * invalidation did not say which). A type not in it, in sync and owing no response, is not even asked for.
   */
  private staleTypes: Set<string> | undefined;
  private readonly precise: boolean;
  private causeOffsets: number[] = [];
  private causeAppendedAt: number | undefined;
  private readonly pushes: Ring<PushRecord>;
  private readonly acks: Ring<AckRecord>;

  constructor(options: SessionOptions) {
    this.mode = options.mode;
    this.served = new Set(options.typeUrls);
    this.now = options.now ?? Date.now;
    this.precise = options.invalidationsNameTypes ?? false;
    this.staleTypes = this.precise ? new Set() : undefined;
    this.pushes = new Ring(options.historySize ?? 32);
    this.acks = new Ring(options.historySize ?? 32);
  }

  get needsPush(): boolean {
    return this.dirty;
  }

  get hasInflight(): boolean {
    for (const st of this.types.values()) if (st.inflight !== undefined) return true;
    return false;
  }

  /** The newest response of some type was NACKed and nothing newer was accepted since. */
  get holdingNack(): boolean {
    for (const st of this.types.values()) {
      if (st.lastNack !== undefined && st.lastNack.nonce === st.ackedNonce) return true;
    }
    return false;
  }

  /** Types the client subscribed to (in ADD_ORDER first, then any others the adapter serves). */
  subscribedTypes(): string[] {
    return [...this.order];
  }

  /**
   * Records an invalidation; the next push carries its offsets. `typeUrls` names the types whose sets it may
   * change (the types of the invalidated roots); without it every type is looked at again.
   */
  invalidate(cause: PushCause, typeUrls?: Iterable<string>): void {
    this.dirty = true;
    if (typeUrls === undefined) this.staleTypes = undefined;
    else if (this.staleTypes !== undefined) for (const t of typeUrls) this.staleTypes.add(t);
    for (const o of cause.offsets) this.causeOffsets.push(o);
    if (this.causeOffsets.length > MAX_CAUSE_OFFSETS) this.causeOffsets = this.causeOffsets.slice(-MAX_CAUSE_OFFSETS);
    if (cause.appendedAt !== undefined) {
      this.causeAppendedAt = this.causeAppendedAt === undefined ? cause.appendedAt : Math.min(this.causeAppendedAt, cause.appendedAt);
    }
  }

  onRequest(req: AdsRequest): RequestOutcome {
    const typeUrl = req.typeUrl;
    if (!this.served.has(typeUrl)) {
      return { typeUrl, unknownType: true, stale: false, subscriptionChanged: false };
    }
    let st = this.types.get(typeUrl);
    const first = st === undefined;
    if (st === undefined) {
      st = {
        typeUrl,
        wildcard: false,
        legacyWildcard: false,
        names: new Set(),
        sent: new Sent(),
        absentReported: new Set(),
        inflight: undefined,
        syncedHash: undefined,
        needsResponse: false,
        ackedVersion: '',
        ackedNonce: '',
        lastVersionSent: '',
        lastNack: undefined,
      };
      this.types.set(typeUrl, st);
      this.order = orderTypes([...this.types.keys()]);
    }

    let stale = false;
    let ack: RequestOutcome['ack'];
    let nack: RequestOutcome['nack'];
    if (req.responseNonce !== '') {
      const inflight = st.inflight;
      if (inflight !== undefined && inflight.nonce === req.responseNonce) {
        st.inflight = undefined;
        if (this.blocked) this.dirty = true;
        const version = req.kind === 'sotw' ? req.versionInfo : inflight.version;
        if (req.errorDetail !== undefined) {
          const message = req.errorDetail.message;
          st.lastNack = { nonce: inflight.nonce, version: inflight.version, message, time: this.now() };
          st.ackedNonce = inflight.nonce;
          nack = { nonce: inflight.nonce, version: inflight.version, message, sentAt: inflight.sentAt, cause: inflight.cause };
          this.acks.push({ time: this.now(), typeUrl, nonce: inflight.nonce, version: inflight.version, ack: false, error: message });
        } else {
          st.ackedVersion = version;
          st.ackedNonce = inflight.nonce;
          ack = { nonce: inflight.nonce, version, sentAt: inflight.sentAt, cause: inflight.cause };
          this.acks.push({ time: this.now(), typeUrl, nonce: inflight.nonce, version, ack: true });
        }
      } else {
        stale = true;
      }
    }

    const subscriptionChanged = req.kind === 'sotw' ? this.sotwSubscribe(st, req.resourceNames, first) : this.deltaSubscribe(st, req, first);
    if (subscriptionChanged) {
      st.syncedHash = undefined;
      this.dirty = true;
    }
    return {
      typeUrl,
      unknownType: false,
      stale,
      subscriptionChanged,
      ...(ack === undefined ? {} : { ack }),
      ...(nack === undefined ? {} : { nack }),
    };
  }

  private sotwSubscribe(st: TypeState, resourceNames: readonly string[], first: boolean): boolean {
    const names = new Set(resourceNames);
    let wildcard = names.delete('*');
    if (names.size === 0 && !wildcard && WILDCARD_TYPES.has(st.typeUrl) && (first || st.legacyWildcard)) {
      wildcard = true;
      st.legacyWildcard = true;
    } else if (names.size > 0 || wildcard) {
      st.legacyWildcard = false;
    }
    const changed = first || wildcard !== st.wildcard || !sameSet(names, st.names);
    if (!changed) return false;
    st.wildcard = wildcard;
    st.names = names;
    // The client dropped what it unsubscribed from: not a removal to announce, and sent again on re-subscribe.
    if (!wildcard) for (const name of [...st.sent.keys()]) if (!names.has(name)) st.sent.delete(name);
    // The protocol expects an answer to every subscription change, and the first request always gets one.
    st.needsResponse = first || wildcard || names.size > 0;
    return true;
  }

  private deltaSubscribe(st: TypeState, req: Extract<AdsRequest, { kind: 'delta' }>, first: boolean): boolean {
    if (first) {
      for (const [name, version] of req.initialResourceVersions) st.sent.set(name, version);
      if (req.subscribe.length === 0 && WILDCARD_TYPES.has(st.typeUrl)) {
        st.wildcard = true;
        st.legacyWildcard = true;
      }
      // An empty first answer tells a wildcard client that the initial fetch is complete.
      st.needsResponse = true;
    }
    for (const name of req.subscribe) {
      if (name === '*') st.wildcard = true;
      else st.names.add(name);
    }
    for (const name of req.unsubscribe) {
      if (name === '*') {
        st.wildcard = false;
        st.legacyWildcard = false;
      } else {
        st.names.delete(name);
        st.absentReported.delete(name);
        // Forget it so that a later re-subscribe sends it again (the client dropped it).
        if (!st.wildcard) st.sent.delete(name);
      }
    }
    return first || req.subscribe.length > 0 || req.unsubscribe.length > 0;
  }

  /**
   * Computes and records the responses to send now, in the protocol's order: types gaining or changing
   * resources in ADD_ORDER (CDS, EDS, LDS, RDS), then removals in reverse order, a type's removals held back
   * while a later type still has to change. A type with a response in flight is left for after its ACK.
   */
  push(desired: (typeUrl: string) => DesiredSet): AdsResponse[] {
    this.dirty = false;
    this.blocked = false;
    // The offsets are handed over, not copied: a fresh list starts below unless the push left work behind.
    const cause: PushCause = { offsets: this.causeOffsets, appendedAt: this.causeAppendedAt };
    const order = this.order;
    const stale = this.staleTypes;
    this.staleTypes = this.precise ? new Set() : undefined;
    const delta = this.mode === 'delta';
    const plans = new Map<string, Plan>();
    const computed: [TypeState, DesiredSet][] = [];
    for (const typeUrl of order) {
      const st = this.types.get(typeUrl)!;
      // In sync at a hash nothing invalidated since: its set is what was planned, no need to ask for it.
      if (stale !== undefined && !stale.has(typeUrl) && st.syncedHash !== undefined && !st.needsResponse) continue;
      const d = desired(typeUrl);
      if (st.syncedHash === d.hash && !st.needsResponse) continue;
      computed.push([st, d]);
      const target: EncodedResource[] = [];
      if (st.wildcard) {
        for (const r of d.set.values()) target.push(r);
      } else {
        for (const n of st.names) {
          const r = d.set.get(n);
          if (r !== undefined) target.push(r);
        }
      }
      const upserts = target.filter((r) => st.sent.get(r.name)?.version !== r.version);
      // A subscribed name outside the target is one the set does not have.
      const absent: string[] = [];
      if (delta) for (const n of st.names) if (!d.set.has(n) && !st.sent.has(n) && !st.absentReported.has(n)) absent.push(n);
      const removals: string[] = [];
      for (const n of st.sent.keys()) if (!d.set.has(n) || (!st.wildcard && !st.names.has(n))) removals.push(n);
      // SotW re-sends the whole type on any change; delta only the difference.
      const respond = st.needsResponse || upserts.length > 0 || absent.length > 0 || (!delta && removals.length > 0);
      if (!respond && removals.length === 0) continue;
      plans.set(typeUrl, { st, target, upserts, removals, absent, respond });
    }

    const pendingAfter = (typeUrl: string): boolean => {
      for (let i = order.indexOf(typeUrl) + 1; i < order.length; i++) {
        const p = plans.get(order[i]!);
        if (p !== undefined && (p.upserts.length > 0 || p.removals.length > 0 || p.absent.length > 0)) return true;
      }
      return false;
    };

    const out: AdsResponse[] = [];
    const send = (p: Plan, withUpserts: boolean, withRemovals: boolean): void => {
      const response = this.buildResponse(p, withUpserts, withRemovals, cause);
      out.push(response);
      if (withUpserts) {
        p.upserts = [];
        p.absent = [];
        p.respond = false;
        p.st.needsResponse = false;
      }
      if (withRemovals) p.removals = [];
      if (p.upserts.length === 0 && p.removals.length === 0 && p.absent.length === 0) plans.delete(p.st.typeUrl);
    };

    for (const typeUrl of order) {
      const p = plans.get(typeUrl);
      if (p === undefined || !p.respond) continue;
      if (p.st.inflight !== undefined) {
        this.blocked = true;
        continue;
      }
      const withRemovals = p.removals.length > 0 && !pendingAfter(typeUrl);
      // A SotW type whose only change is a held-back removal would resend what the client has: wait instead.
      if (!withRemovals && p.upserts.length === 0 && p.absent.length === 0 && !p.st.needsResponse) continue;
      send(p, true, withRemovals);
    }
    for (const typeUrl of [...order].reverse()) {
      const p = plans.get(typeUrl);
      if (p === undefined || p.removals.length === 0) continue;
      if (p.st.inflight !== undefined || pendingAfter(typeUrl)) {
        this.blocked = true;
        continue;
      }
      send(p, false, true);
    }
    for (const p of plans.values()) if (p.upserts.length > 0 || p.removals.length > 0) this.blocked = true;
    // A type is in sync at the hash just planned unless something of it is still held back.
    for (const [st, d] of computed) st.syncedHash = plans.has(st.typeUrl) ? undefined : d.hash;
    if (this.blocked) {
      // Kept for the held-back part, in a list of its own: the one handed to this push's responses stays as sent.
      this.causeOffsets = [...this.causeOffsets];
    } else {
      this.causeOffsets = [];
      this.causeAppendedAt = undefined;
    }
    return out;
  }

  private buildResponse(
    p: Plan,
    withUpserts: boolean,
    withRemovals: boolean,
    cause: PushCause,
  ): AdsResponse {
    const st = p.st;
    const nonce = String(++this.nonceCounter);
    const now = this.now();
    let response: AdsResponse;
    let sent: readonly EncodedResource[];
    let removedNames: string[];
    if (this.mode === 'sotw' && !WILDCARD_TYPES.has(st.typeUrl) && !st.wildcard) {
      // Named types (RDS, EDS, SDS): the protocol lets a state-of-the-world response carry only the resources
      // that changed; what the client already has stays, and it drops what it unsubscribes from. So one
      // changed ClusterLoadAssignment costs one resource on the wire, not the proxy's whole subscription.
      const resources = [...p.upserts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      removedNames = withRemovals ? p.removals : [];
      for (const r of resources) st.sent.set(r.name, r.version, r, true);
      for (const name of removedNames) st.sent.delete(name);
      const version = st.sent.version();
      sent = resources;
      response = { kind: 'sotw', versionInfo: version, typeUrl: st.typeUrl, nonce, resources } satisfies SotwResponse;
    } else if (this.mode === 'sotw') {
      // LDS and CDS (and wildcard subscriptions): every response is the whole state of the world.
      const resources = [...p.target];
      removedNames = withRemovals ? p.removals : [];
      if (!withRemovals) {
        // Removal deferred: keep the old resources in this state-of-the-world until later types moved off them.
        for (const name of p.removals) {
          const old = st.sent.get(name)?.resource;
          if (old !== undefined) resources.push(old);
        }
      }
      resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      st.sent = new Sent();
      for (const r of resources) st.sent.set(r.name, r.version, r, true);
      const version = versionOf(resources.map((r) => [r.name, r.version] as const));
      sent = resources;
      response = { kind: 'sotw', versionInfo: version, typeUrl: st.typeUrl, nonce, resources } satisfies SotwResponse;
    } else {
      const resources = withUpserts ? p.upserts : [];
      const absent = withUpserts ? p.absent : [];
      const removed = withRemovals ? p.removals : [];
      for (const r of resources) {
        st.sent.set(r.name, r.version, r);
        st.absentReported.delete(r.name);
      }
      for (const name of removed) st.sent.delete(name);
      for (const name of absent) st.absentReported.add(name);
      sent = resources;
      removedNames = absent.length === 0 ? removed : [...removed, ...absent];
      const version = st.sent.version();
      response = {
        kind: 'delta',
        systemVersionInfo: version,
        typeUrl: st.typeUrl,
        nonce,
        resources,
        removed: removedNames,
      } satisfies DeltaResponse;
    }
    const version = response.kind === 'sotw' ? response.versionInfo : response.systemVersionInfo;
    st.inflight = { nonce, version, sentAt: now, cause };
    st.lastVersionSent = version;
    // Names, not the resources: a ring holding the resources would keep every proxy's last pushes' trees and
    // bytes alive after the engine replaced them, long enough to be promoted, and the old generation then
    // fills with them (a major collection every few seconds of policy changes at 1k proxies).
    this.pushes.push({ time: now, typeUrl: st.typeUrl, version, nonce, offsets: cause.offsets, sent: sent.map((r) => r.name), removed: removedNames });
    return response;
  }

  /** Forgets an in-flight response that could not be written, so that the next push retries it. */
  abandon(typeUrl: string, nonce: string): void {
    const st = this.types.get(typeUrl);
    if (st?.inflight?.nonce === nonce) {
      st.inflight = undefined;
      st.syncedHash = undefined;
      this.dirty = true;
    }
  }

  pushHistory(): readonly PushRecord[] {
    return this.pushes.list();
  }

  ackHistory(): readonly AckRecord[] {
    return this.acks.list();
  }

  snapshot(): TypeSnapshot[] {
    return this.subscribedTypes().map((typeUrl) => {
      const st = this.types.get(typeUrl)!;
      return {
        typeUrl,
        wildcard: st.wildcard,
        names: [...st.names].sort(),
        resourcesSent: st.sent.size,
        lastVersionSent: st.lastVersionSent,
        ackedVersion: st.ackedVersion,
        inFlightNonce: st.inflight?.nonce ?? null,
        lastNack:
          st.lastNack === undefined
            ? null
            : { nonce: st.lastNack.nonce, version: st.lastNack.version, message: st.lastNack.message, time: new Date(st.lastNack.time).toISOString() },
      };
    });
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Types in ADD_ORDER, unknown ones after them in name order. */
export function orderTypes(types: readonly string[]): string[] {
  const rank = (t: string): number => {
    const i = ADD_ORDER.indexOf(t);
    return i < 0 ? ADD_ORDER.length : i;
  };
  return [...types].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}
