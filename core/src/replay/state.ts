import { Catalog } from '../catalog/catalog.js';
import type { ChangeSet } from '../catalog/types.js';
import { CertExternals, type ServiceCertificate } from '../certs/types.js';
import { Engine } from '../derive/engine.js';
import type { LogBatch, MeshEvent } from '../log/types.js';
import type { CertificateIssued } from '../model/types.js';
import type { Timeline } from './timeline.js';

/**
 * The mesh as of a point of the log: a catalog fed batch by batch and a derivation engine over it, as the
 * running control plane has them. Certificates are not on the log; their issuance metadata is, so each
 * identity's certificate is the metadata with empty PEMs: enough for dumps (fingerprints) and versions,
 * never key material.
 */
/** Events folded per catalog.apply when no per-batch answer is needed. */
const FOLD_CHUNK_EVENTS = 8192;

export class ReplayState {
  readonly catalog = new Catalog();
  readonly engine: Engine;
  private readonly externals = new Map<string, unknown>();
  /** Index of the next batch of the timeline to apply. */
  private next = 0;

  constructor(
    readonly timeline: Timeline,
    options: { readonly trustBundle?: readonly string[] } = {},
  ) {
    this.engine = new Engine(this.catalog);
    if (options.trustBundle !== undefined && options.trustBundle.length > 0) this.setExternal(CertExternals.trustBundle, [...options.trustBundle]);
  }

  /** Index of the last applied batch, -1 before the first. */
  get position(): number {
    return this.next - 1;
  }

  get done(): boolean {
    return this.next >= this.timeline.length;
  }

  external(name: string): unknown {
    return this.externals.get(name);
  }

  /** Applies the next batch; returns what changed and the derivations that may be stale now. */
  applyNext(): { readonly batch: LogBatch; readonly changes: ChangeSet; readonly dirtied: ReadonlySet<string> } {
    const batch = this.timeline.batch(this.next);
    this.next++;
    const { changes, dirtied } = this.fold(batch);
    return { batch, changes, dirtied };
  }

  /**
   * Applies batches up to and including `index`; returns the derivations that may be stale now.
   *
   * By default consecutive batches are folded as one catalog step, so a 100k-event log folds in far fewer,
   * larger steps. The resulting state and invalidations are the same, but not always the provenance: a
   * resource that goes A -> B -> A inside one step is unchanged for that step, so its provenance keeps the
   * first A, where the live control plane (batch by batch) records the last. `exact` folds batch by batch,
   * as live; `--explain` needs it.
   *
   * `compact` folds only the last event of each resource in the range, as one catalog step
   * (Timeline.lastEvents): resources, their sources, the indexes and the certificate externals end exactly
   * as a full fold leaves them, so config dumps are identical; provenance is not (a resource's provenance
   * is its last event's, an index entry's the event that last filled it from empty among the kept ones),
   * nor the changes a step reports. For a config dump at a point only: `--explain`, `--step` and `--diff`
   * keep the full folds. Its trade-off: only the kept events' bodies are parsed and checked, so a
   * malformed body that a later event of the range replaced no longer fails the replay (every record is
   * still CRC-checked and every envelope decoded and checked).
   */
  advanceTo(index: number, options: { readonly exact?: boolean; readonly compact?: boolean } = {}): ReadonlySet<string> {
    if (index < this.position) throw new RangeError(`cannot go back from batch ${this.position} to ${index}; open a new state`);
    if (options.compact === true && options.exact === true) throw new RangeError('advanceTo: exact and compact exclude each other');
    const dirtied = new Set<string>();
    if (options.compact === true) {
      if (this.next > index) return dirtied;
      const events = this.timeline.lastEvents(this.next, index);
      this.next = index + 1;
      return this.fold({ events }).dirtied;
    }
    const chunk = options.exact === true ? 1 : FOLD_CHUNK_EVENTS;
    while (this.next <= index) {
      const events: MeshEvent[] = [];
      while (this.next <= index && events.length < chunk) {
        for (const ev of this.timeline.batch(this.next).events) events.push(ev);
        this.next++;
      }
      for (const id of this.fold({ events }).dirtied) dirtied.add(id);
    }
    return dirtied;
  }

  private fold(batch: LogBatch): { readonly changes: ChangeSet; readonly dirtied: Set<string> } {
    const changes = this.catalog.apply(batch, { bodiesFromJson: this.timeline.bodiesFromJson });
    const dirtied = new Set(this.engine.invalidate(changes.keys));
    for (const ev of batch.events) {
      if (ev.kind !== 'CertificateIssued') continue;
      const [ns = '', sa = ''] = ev.key.split('/');
      const name = CertExternals.serviceCert(ns, sa);
      const body = ev.op === 'upsert' ? (ev.body as CertificateIssued) : undefined;
      const cert: ServiceCertificate | undefined =
        body === undefined
          ? undefined
          : { certPem: '', keyPem: '', chainPem: [], serial: body.serial, notAfter: body.notAfter, fingerprint: body.fingerprint };
      for (const id of this.setExternal(name, cert)) dirtied.add(id);
    }
    return { changes, dirtied };
  }

  /** The last applied event's offset and time. */
  at(): { readonly offset: number; readonly time: string | null } {
    if (this.position < 0) return { offset: -1, time: null };
    const b = this.timeline.bounds(this.position);
    return { offset: b.lastOffset, time: new Date(b.lastTime).toISOString() };
  }

  private setExternal(name: string, value: unknown): ReadonlySet<string> {
    if (value === undefined) this.externals.delete(name);
    else this.externals.set(name, value);
    return this.engine.setExternal(name, value);
  }
}
