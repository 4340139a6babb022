import { performance } from 'node:perf_hooks';
import { WeftError } from '../errors.js';
import type { DerivationEngine } from '../derive/types.js';
import type { EventInput, EventLog } from '../log/types.js';
import type { CertificateIssued } from '../model/types.js';
import type { Logger } from '../observe/logger.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { DEFAULT_TRUST_DOMAIN } from '../model/types.js';
import {
  serviceCertificateRequest,
  spiffeId,
  xdsServerCertificateRequest,
  type ServiceIdentityRef,
} from './identity.js';
import {
  CertExternals,
  type CertificateFingerprint,
  type CertificateIssuer,
  type CertificateRequest,
  type IdentityCertificates,
  type IssuedCertificate,
  type ServiceCertificate,
} from './types.js';

/** Issuing or rotating a certificate failed; retriable since the issuer or the log may recover. */
export class CertificateIssueError extends WeftError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('CERT_ISSUE_FAILED', message, { retriable: options.retriable ?? true, cause: options.cause });
  }
}

/** A root rotation step was asked for out of order, or the issuer cannot rotate its root. */
export class RootRotationError extends WeftError {
  constructor(message: string) {
    super('CERT_ROOT_ROTATION', message);
  }
}

/**
 * Root rotation phases:
 * - `stable`: one root signs and is trusted;
 * - `overlap`: the next root is in the trust bundle next to the current one, leaves still under the current;
 * - `reissued`: the next root signs and every leaf was re-issued under it; both roots still trusted.
 * `completeRootRotation` drops the previous root and returns to `stable`.
 */
export type RootRotationPhase = 'stable' | 'overlap' | 'reissued';

export type IssueReason = 'initial' | 'rotation' | 'root-rotation';

/** Instrumentation: one per issued certificate (metrics count these: osm_cert_issued_count/_time). */
export interface CertificateIssuedInfo {
  /** "<ns>/<sa>" for service certificates, "server:<dns,...>" for serving certificates. */
  readonly key: string;
  readonly kind: 'service' | 'server';
  readonly reason: IssueReason;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notAfter: string;
  /** Wall time of the issuer call, milliseconds. */
  readonly durationMs: number;
}

export interface CertificateManagerEvents {
  issued: CertificateIssuedInfo;
  /** A serving certificate was replaced; servers using it reload their secure context. */
  serverCertificate: { readonly dnsNames: readonly string[]; readonly certificate: IssuedCertificate };
  rootRotationPhase: { readonly phase: RootRotationPhase };
  trustBundle: { readonly bundle: readonly string[] };
  /**
   * An engine input was set (`cert/<ns>/<sa>` or `trust-bundle`); `invalidated` are the derivation ids the
   * engine marked stale, i.e. what the proxies holding them must be re-pushed.
   */
  external: { readonly name: string; readonly invalidated: ReadonlySet<string> };
  /** A scheduled rotation failed; it is retried after `retryInMs`. */
  rotationFailed: { readonly key: string; readonly error: Error; readonly retryInMs: number };
}

export interface CertificateManagerOptions {
  readonly issuer: CertificateIssuer;
  readonly engine: Pick<DerivationEngine, 'setExternal'>;
  readonly log: Pick<EventLog, 'append'>;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly trustDomain?: string;
  /** Service certificate validity; the issuer's default when absent. */
  readonly validityMs?: number;
  /** Rotation happens at a random point of this window of the certificate's lifetime (default 0.7-0.9). */
  readonly rotationWindow?: { readonly from: number; readonly to: number };
  /** Delay before a failed rotation is tried again (default 5 s, never later than half the time left). */
  readonly retryDelayMs?: number;
  /** Random source in [0, 1) for the rotation jitter. */
  readonly random?: () => number;
  /** `source` of the CertificateIssued events (default: the issuer's name). */
  readonly source?: string;
}

interface Entry {
  readonly key: string;
  readonly kind: 'service' | 'server';
  readonly request: CertificateRequest;
  readonly identity?: ServiceIdentityRef;
  readonly dnsNames?: readonly string[];
  cert?: IssuedCertificate;
  timer?: TimerHandle;
  inflight?: Promise<IssuedCertificate>;
}

type Listener<T> = (payload: T) => void;

/**
 * Issuer-agnostic certificate cache and rotation schedule. It hands service certificates to the
 * derivation engine as external inputs (so only the SDS derivations of that identity recompute), records
 * issuance metadata on the log (never a key) and keeps the trust bundle external current.
 */
export class CertificateManager implements IdentityCertificates {
  private readonly issuer: CertificateIssuer;
  private readonly engine: Pick<DerivationEngine, 'setExternal'>;
  private readonly log: Pick<EventLog, 'append'>;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly trustDomain: string;
  private readonly validityMs: number | undefined;
  private readonly window: { from: number; to: number };
  private readonly retryDelayMs: number;
  private readonly random: () => number;
  private readonly source: string;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Map<keyof CertificateManagerEvents, Set<Listener<never>>>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly unsubscribeBundle: (() => void) | undefined;
  private phase: RootRotationPhase = 'stable';
  private bundle: readonly string[] = [];
  private closed = false;

  constructor(options: CertificateManagerOptions) {
    this.issuer = options.issuer;
    this.engine = options.engine;
    this.log = options.log;
    this.logger = options.logger.child({ component: 'certificates', issuer: options.issuer.name });
    this.clock = options.clock ?? systemClock;
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.validityMs = options.validityMs;
    const window = options.rotationWindow ?? { from: 0.7, to: 0.9 };
    if (!(window.from > 0 && window.from <= window.to && window.to < 1)) {
      throw new WeftError(
        'CONFIG_INVALID',
        `rotation window ${window.from}-${window.to} must satisfy 0 < from <= to < 1 (fractions of the lifetime)`,
      );
    }
    this.window = window;
    this.retryDelayMs = options.retryDelayMs ?? 5_000;
    this.random = options.random ?? Math.random;
    this.source = options.source ?? options.issuer.name;
    this.publishBundle(this.issuer.trustBundle());
    this.unsubscribeBundle = this.issuer.onTrustBundleChange?.((bundle) => this.publishBundle(bundle));
  }

  on<E extends keyof CertificateManagerEvents>(event: E, listener: Listener<CertificateManagerEvents[E]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => void set.delete(listener as Listener<never>);
  }

  private emit<E extends keyof CertificateManagerEvents>(event: E, payload: CertificateManagerEvents[E]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<CertificateManagerEvents[E]>)(payload);
      } catch (error) {
        // A faulty listener (metrics, a server reload) must not stop rotation; it is reported, not hidden.
        this.logger.error('certificate event listener failed', { event, error: String(error) });
      }
    }
  }

  /** Root PEMs currently trusted (also the `trust-bundle` external). */
  trustBundle(): readonly string[] {
    return this.bundle;
  }

  rootRotationPhase(): RootRotationPhase {
    return this.phase;
  }

  /** The current certificate of an identity, if one was issued. */
  current(identity: ServiceIdentityRef): IssuedCertificate | undefined {
    return this.entries.get(`${identity.namespace}/${identity.serviceAccount}`)?.cert;
  }

  /** What a debug endpoint may show about the cached certificates: fingerprints, never keys. */
  certificates(): (CertificateFingerprint & { readonly key: string; readonly kind: 'service' | 'server' })[] {
    const out: (CertificateFingerprint & { key: string; kind: 'service' | 'server' })[] = [];
    for (const entry of this.entries.values()) {
      if (entry.cert === undefined) continue;
      out.push({
        key: entry.key,
        kind: entry.kind,
        fingerprint: entry.cert.fingerprint,
        serial: entry.cert.serial,
        notAfter: entry.cert.notAfter.toISOString(),
      });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async ensure(identity: ServiceIdentityRef): Promise<void> {
    this.assertOpen();
    const key = `${identity.namespace}/${identity.serviceAccount}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const request = serviceCertificateRequest(identity, {
        trustDomain: this.trustDomain,
        ...(this.validityMs === undefined ? {} : { validityMs: this.validityMs }),
      });
      entry = { key, kind: 'service', request, identity: { namespace: identity.namespace, serviceAccount: identity.serviceAccount } };
      this.entries.set(key, entry);
    }
    if (this.valid(entry.cert)) return;
    await this.issue(entry, entry.cert === undefined ? 'initial' : 'rotation');
  }

  isReady(identity: ServiceIdentityRef): boolean {
    return !this.closed && this.valid(this.current(identity));
  }

  /** Issued and not expired: what `ensure` and `serverCertificate` keep instead of issuing again. */
  private valid(cert: IssuedCertificate | undefined): cert is IssuedCertificate {
    return cert !== undefined && cert.notAfter.getTime() > this.clock.now();
  }

  /** Stops rotating an identity's certificate (no proxy of it is connected any more). */
  forget(identity: ServiceIdentityRef): void {
    const key = `${identity.namespace}/${identity.serviceAccount}`;
    this.entries.get(key)?.timer?.cancel();
    this.entries.delete(key);
  }

  /**
   * A serving certificate for the xDS server (or another mesh component) for these DNS names; issued once,
   * rotated on schedule, each replacement announced as a `serverCertificate` event.
   */
  async serverCertificate(
    dnsNames: readonly string[],
    options: { readonly ipAddresses?: readonly string[] } = {},
  ): Promise<IssuedCertificate> {
    this.assertOpen();
    const names = [...dnsNames].sort();
    const ips = [...(options.ipAddresses ?? [])].sort();
    const key = `server:${names.join(',')}${ips.length > 0 ? `|${ips.join(',')}` : ''}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      // The key ignores order; the request keeps the caller's, whose first name becomes the CN.
      const request = xdsServerCertificateRequest([...dnsNames], {
        ...(ips.length > 0 ? { ipAddresses: ips } : {}),
        ...(this.validityMs === undefined ? {} : { validityMs: this.validityMs }),
      });
      entry = { key, kind: 'server', request, dnsNames: names };
      this.entries.set(key, entry);
    }
    if (this.valid(entry.cert)) return entry.cert;
    return this.issue(entry, entry.cert === undefined ? 'initial' : 'rotation');
  }

  /** Phase 1 of a root rotation: the next root joins the trust bundle; leaves stay under the current root. */
  async beginRootRotation(): Promise<void> {
    const rotator = this.rotator();
    if (this.phase !== 'stable') {
      throw new RootRotationError(`a root rotation is already in phase "${this.phase}"; finish it first`);
    }
    await rotator.stage();
    this.publishBundle(this.issuer.trustBundle());
    this.setPhase('overlap');
  }

  /** Phase 2: the next root signs; every certificate in the cache is re-issued under it. */
  async reissueUnderNewRoot(): Promise<void> {
    const rotator = this.rotator();
    if (this.phase !== 'overlap') {
      throw new RootRotationError(
        `re-issuing under the new root needs phase "overlap" (call beginRootRotation first); phase is "${this.phase}"`,
      );
    }
    await rotator.activate();
    const entries = [...this.entries.values()];
    const results = await Promise.allSettled(entries.map((e) => this.reissue(e)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      // Stay in "overlap": retrying this step re-issues everything, the old root is still trusted.
      throw new CertificateIssueError(
        `${failed.length} of ${entries.length} certificates could not be re-issued under the new root; ` +
          `the previous root stays trusted; call reissueUnderNewRoot again`,
        { cause: failed[0]!.reason },
      );
    }
    this.setPhase('reissued');
  }

  /** Phase 3: the previous root leaves the trust bundle. */
  async completeRootRotation(): Promise<void> {
    const rotator = this.rotator();
    if (this.phase !== 'reissued') {
      throw new RootRotationError(
        `dropping the previous root needs phase "reissued" (call reissueUnderNewRoot first); phase is "${this.phase}"`,
      );
    }
    await rotator.retire();
    this.publishBundle(this.issuer.trustBundle());
    this.setPhase('stable');
  }

  /**
   * All three phases, waiting `propagationMs` after each bundle change so proxies receive the new trust
   * bundle before anything is signed by (or stops trusting) a root they do not know.
   */
  async rotateRoot(options: { readonly propagationMs: number }): Promise<void> {
    await this.beginRootRotation();
    await this.sleep(options.propagationMs);
    await this.reissueUnderNewRoot();
    await this.sleep(options.propagationMs);
    await this.completeRootRotation();
  }

  /** Resolves once the scheduled work started so far (rotations, retries) has finished. */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Cancels every rotation timer and the trust bundle subscription. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) entry.timer?.cancel();
    this.unsubscribeBundle?.();
  }

  private rotator(): NonNullable<CertificateIssuer['rootRotation']> {
    this.assertOpen();
    const rotator = this.issuer.rootRotation;
    if (rotator === undefined) {
      throw new RootRotationError(
        `issuer "${this.issuer.name}" cannot rotate its root; rotate the CA where it is kept and restart`,
      );
    }
    return rotator;
  }

  private setPhase(phase: RootRotationPhase): void {
    this.phase = phase;
    this.logger.info('root rotation phase', { phase });
    this.emit('rootRotationPhase', { phase });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimer(resolve, ms));
  }

  private assertOpen(): void {
    if (this.closed) throw new WeftError('CERT_MANAGER_CLOSED', 'the certificate manager was closed');
  }

  private publishBundle(bundle: readonly string[]): void {
    if (bundle.length === this.bundle.length && bundle.every((pem, i) => pem === this.bundle[i])) return;
    this.bundle = [...bundle];
    this.setExternal(CertExternals.trustBundle, this.bundle);
    this.emit('trustBundle', { bundle: this.bundle });
  }

  /**
   * A fresh issuance under the issuer's current root: an issuance already in flight may have been
   * signed by the previous root, so it is waited for (its outcome belongs to its own caller), not shared.
   */
  private async reissue(entry: Entry): Promise<IssuedCertificate> {
    if (entry.inflight !== undefined) await Promise.allSettled([entry.inflight]);
    return this.issue(entry, 'root-rotation');
  }

  private setExternal(name: string, value: unknown): void {
    const invalidated = this.engine.setExternal(name, value);
    this.emit('external', { name, invalidated });
  }

  /** One issuance at a time per entry; concurrent callers share it. */
  private issue(entry: Entry, reason: IssueReason): Promise<IssuedCertificate> {
    if (entry.inflight !== undefined) return entry.inflight;
    const run = this.doIssue(entry, reason).finally(() => {
      entry.inflight = undefined;
    });
    entry.inflight = run;
    return run;
  }

  private async doIssue(entry: Entry, reason: IssueReason): Promise<IssuedCertificate> {
    const started = performance.now();
    let cert: IssuedCertificate;
    try {
      cert = await this.issuer.issue(entry.request);
    } catch (error) {
      throw new CertificateIssueError(
        `issuer "${this.issuer.name}" failed to issue the certificate for ${entry.key}: ${String(error)}`,
        { cause: error },
      );
    }
    const durationMs = performance.now() - started;
    if (this.closed) return cert;
    if (entry.identity !== undefined) {
      await this.record(entry.identity, cert);
      const external: ServiceCertificate = {
        certPem: cert.certPem,
        keyPem: cert.keyPem,
        chainPem: cert.chainPem,
        serial: cert.serial,
        notAfter: cert.notAfter.toISOString(),
        fingerprint: cert.fingerprint,
      };
      this.setExternal(CertExternals.serviceCert(entry.identity.namespace, entry.identity.serviceAccount), external);
    }
    entry.cert = cert;
    this.schedule(entry, cert);
    const info: CertificateIssuedInfo = {
      key: entry.key,
      kind: entry.kind,
      reason,
      serial: cert.serial,
      fingerprint: cert.fingerprint,
      notAfter: cert.notAfter.toISOString(),
      durationMs,
    };
    this.logger.info('certificate issued', { ...info });
    this.emit('issued', info);
    if (entry.kind === 'server' && reason !== 'initial') {
      this.emit('serverCertificate', { dnsNames: entry.dnsNames ?? [], certificate: cert });
    }
    return cert;
  }

  private async record(identity: ServiceIdentityRef, cert: IssuedCertificate): Promise<void> {
    const body: CertificateIssued = {
      meta: { namespace: identity.namespace, name: identity.serviceAccount, labels: {}, annotations: {} },
      identity: spiffeId(this.trustDomain, identity.namespace, identity.serviceAccount),
      serial: cert.serial,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      fingerprint: cert.fingerprint,
    };
    const event: EventInput = {
      source: this.source,
      op: 'upsert',
      kind: 'CertificateIssued',
      key: `${identity.namespace}/${identity.serviceAccount}`,
      body,
    };
    try {
      await this.log.append([event]);
    } catch (error) {
      throw new CertificateIssueError(
        `could not record the issuance of ${event.key} on the event log: ${String(error)}`,
        { cause: error },
      );
    }
  }

  /** Rotation time: a random point of the configured window of the lifetime, so rotations spread out. */
  private schedule(entry: Entry, cert: IssuedCertificate): void {
    entry.timer?.cancel();
    const notBefore = cert.notBefore.getTime();
    const lifetime = cert.notAfter.getTime() - notBefore;
    const fraction = this.window.from + (this.window.to - this.window.from) * this.random();
    const delay = Math.max(0, notBefore + lifetime * fraction - this.clock.now());
    entry.timer = this.clock.setTimer(() => this.rotate(entry), delay);
  }

  private rotate(entry: Entry): void {
    if (this.closed || this.entries.get(entry.key) !== entry) return;
    const work = this.issue(entry, 'rotation').then(
      () => undefined,
      (error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error));
        const left = (entry.cert?.notAfter.getTime() ?? 0) - this.clock.now();
        const retryInMs = Math.max(1, Math.min(this.retryDelayMs, left > 0 ? left / 2 : this.retryDelayMs));
        this.logger.error('certificate rotation failed; retrying', { key: entry.key, error: err.message, retryInMs });
        this.emit('rotationFailed', { key: entry.key, error: err, retryInMs });
        if (!this.closed) entry.timer = this.clock.setTimer(() => this.rotate(entry), retryInMs);
      },
    );
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }
}
