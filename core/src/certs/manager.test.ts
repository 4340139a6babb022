import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventInput } from '../log/types.js';
import { captureLogger } from '../observe/logger.js';
import { ManualClock } from './clock.js';
import {
  CertificateIssueError,
  CertificateManager,
  RootRotationError,
  type CertificateIssuedInfo,
  type RootRotationPhase,
} from './manager.js';
import {
  CertExternals,
  type CertificateIssuer,
  type CertificateRequest,
  type IssuedCertificate,
  type ServiceCertificate,
} from './types.js';

const HOUR = 3600_000;

/** An issuer that signs nothing: it stamps each "certificate" with a serial, its request and its root. */
class FakeIssuer implements CertificateIssuer {
  readonly name = 'fake';
  serial = 0;
  failures = 0;
  requests: CertificateRequest[] = [];
  roots = ['root-1'];
  signing = 'root-1';
  private next = 2;
  private readonly listeners = new Set<(b: readonly string[]) => void>();
  constructor(private readonly clock: ManualClock, private readonly validityMs = 24 * HOUR) {}

  issue(request: CertificateRequest): Promise<IssuedCertificate> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('issuer unavailable'));
    }
    this.requests.push(request);
    const serial = String(++this.serial).padStart(4, '0');
    const now = this.clock.now();
    return Promise.resolve({
      certPem: `-----BEGIN CERTIFICATE-----\n${serial} ${request.commonName} by ${this.signing}\n-----END CERTIFICATE-----\n`,
      keyPem: `-----BEGIN PRIVATE KEY-----\nsecret-${serial}\n-----END PRIVATE KEY-----\n`,
      chainPem: [],
      serial,
      notBefore: new Date(now),
      notAfter: new Date(now + (request.validityMs ?? this.validityMs)),
      fingerprint: `fp-${serial}`,
    });
  }
  trustBundle(): readonly string[] {
    return this.roots;
  }
  onTrustBundleChange(listener: (b: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  private set(roots: string[]): void {
    this.roots = roots;
    for (const l of this.listeners) l(roots);
  }
  readonly rootRotation = {
    stage: async (): Promise<void> => this.set([...this.roots, `root-${this.next++}`]),
    activate: async (): Promise<void> => {
      this.signing = this.roots[this.roots.length - 1]!;
    },
    retire: async (): Promise<void> => this.set([this.signing]),
  };
}

function harness(options: { random?: () => number; failLog?: () => boolean; validityMs?: number; noRotation?: boolean } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 27));
  const issuer = new FakeIssuer(clock, options.validityMs);
  const externals: { name: string; value: unknown }[] = [];
  const appended: EventInput[][] = [];
  const logger = captureLogger();
  const issued: CertificateIssuedInfo[] = [];
  const engine = {
    setExternal(name: string, value: unknown): ReadonlySet<string> {
      externals.push({ name, value });
      return new Set();
    },
  };
  const log = {
    append(batch: readonly EventInput[]): Promise<number[]> {
      if (options.failLog?.()) return Promise.reject(new Error('disk full'));
      appended.push([...batch]);
      return Promise.resolve(batch.map((_, i) => appended.length * 10 + i));
    },
  };
  const issuerUsed: CertificateIssuer = options.noRotation
    ? { name: 'plain', issue: (r) => issuer.issue(r), trustBundle: () => issuer.trustBundle() }
    : issuer;
  const manager = new CertificateManager({
    issuer: issuerUsed,
    engine,
    log,
    logger,
    clock,
    random: options.random ?? (() => 0.5),
  });
  manager.on('issued', (info) => issued.push(info));
  const certsOf = (ns: string, sa: string): ServiceCertificate[] =>
    externals.filter((e) => e.name === CertExternals.serviceCert(ns, sa)).map((e) => e.value as ServiceCertificate);
  return { clock, issuer, externals, appended, logger, issued, manager, certsOf };
}

const bookstore = { namespace: 'bookstore', serviceAccount: 'bookstore' };
const bookbuyer = { namespace: 'bookbuyer', serviceAccount: 'bookbuyer' };

describe('CertificateManager', () => {
  it('issues once per identity, sets the external and records metadata only', async () => {
    const h = harness();
    assert.deepEqual(h.externals[0], { name: CertExternals.trustBundle, value: ['root-1'] });
    await Promise.all([h.manager.ensure(bookstore), h.manager.ensure(bookstore), h.manager.ensure(bookstore)]);
    await h.manager.ensure(bookstore);
    assert.equal(h.issuer.requests.length, 1, 'concurrent and repeated ensure share one issuance');
    assert.equal(h.issuer.requests[0]!.uris?.[0], 'spiffe://cluster.local/ns/bookstore/sa/bookstore');
    const [cert] = h.certsOf('bookstore', 'bookstore');
    assert.equal(cert?.serial, '0001');
    assert.match(cert!.keyPem, /secret-0001/);
    assert.equal(cert?.notAfter, new Date(h.clock.now() + 24 * HOUR).toISOString());
    assert.deepEqual(h.appended, [
      [
        {
          source: 'fake',
          op: 'upsert',
          kind: 'CertificateIssued',
          key: 'bookstore/bookstore',
          body: {
            meta: { namespace: 'bookstore', name: 'bookstore', labels: {}, annotations: {} },
            identity: 'spiffe://cluster.local/ns/bookstore/sa/bookstore',
            serial: '0001',
            notBefore: new Date(h.clock.now()).toISOString(),
            notAfter: new Date(h.clock.now() + 24 * HOUR).toISOString(),
            fingerprint: 'fp-0001',
          },
        },
      ],
    ]);
    assert.ok(!JSON.stringify(h.appended).includes('secret'), 'no key on the log');
    assert.ok(!JSON.stringify(h.logger.records).includes('secret'), 'no key in the logs');
    assert.equal(h.issued.length, 1);
    assert.equal(h.issued[0]!.reason, 'initial');
    assert.deepEqual(h.manager.certificates(), [
      { key: 'bookstore/bookstore', kind: 'service', fingerprint: 'fp-0001', serial: '0001', notAfter: cert!.notAfter },
    ]);
    assert.ok(h.issued[0]!.durationMs >= 0);
  });

  it('rotates inside the jitter window and sets the external again, for that identity only', async () => {
    for (const [random, fraction] of [[0, 0.7], [0.999999, 0.9], [0.5, 0.8]] as const) {
      const h = harness({ random: () => random });
      await h.manager.ensure(bookstore);
      await h.manager.ensure(bookbuyer);
      const due = fraction * 24 * HOUR;
      h.clock.advance(due - 60_000);
      await h.manager.settled();
      assert.equal(h.certsOf('bookstore', 'bookstore').length, 1, `no rotation before ${fraction} of the lifetime`);
      h.clock.advance(60_000);
      await h.manager.settled();
      const certs = h.certsOf('bookstore', 'bookstore');
      assert.equal(certs.length, 2, `rotated at ${fraction} of the lifetime`);
      assert.notEqual(certs[1]!.serial, certs[0]!.serial);
      assert.equal(h.certsOf('bookbuyer', 'bookbuyer').length, 2);
      assert.deepEqual(h.issued.map((i) => i.reason), ['initial', 'initial', 'rotation', 'rotation']);
      assert.equal(h.appended.length, 4);
      // The next rotation is scheduled from the new certificate.
      assert.ok(Math.abs(h.clock.pending()[0]! - (h.clock.now() + due)) < 100);
    }
  });

  it('retries a failed rotation and keeps the old certificate meanwhile', async () => {
    const h = harness({ random: () => 0 });
    const failures: string[] = [];
    h.manager.on('rotationFailed', (f) => failures.push(`${f.key} ${f.error.message} ${f.retryInMs}`));
    await h.manager.ensure(bookstore);
    h.issuer.failures = 2;
    h.clock.advance(0.7 * 24 * HOUR);
    await h.manager.settled();
    assert.equal(failures.length, 1);
    assert.match(failures[0]!, /bookstore\/bookstore .*issuer unavailable 5000/);
    h.clock.advance(5000);
    await h.manager.settled();
    h.clock.advance(5000);
    await h.manager.settled();
    assert.equal(failures.length, 2);
    assert.equal(h.certsOf('bookstore', 'bookstore').length, 2);
    assert.ok(h.logger.records.some((r) => r.level === 'error' && r.msg === 'certificate rotation failed; retrying'));
  });

  it('fails ensure with a retriable typed error when the log refuses, and sets no external', async () => {
    let fail = true;
    const h = harness({ failLog: () => fail });
    await assert.rejects(h.manager.ensure(bookstore), (e: unknown) => {
      assert.ok(e instanceof CertificateIssueError);
      assert.equal(e.retriable, true);
      assert.match(e.message, /could not record the issuance of bookstore\/bookstore.*disk full/);
      return true;
    });
    assert.equal(h.certsOf('bookstore', 'bookstore').length, 0);
    fail = false;
    await h.manager.ensure(bookstore);
    assert.equal(h.certsOf('bookstore', 'bookstore').length, 1);
  });

  it('says an identity is ready only once its certificate is issued and set, and until it is forgotten', async () => {
    let fail = true;
    const h = harness({ failLog: () => fail });
    assert.equal(h.manager.isReady(bookstore), false, 'never ensured');
    await assert.rejects(h.manager.ensure(bookstore));
    assert.equal(h.manager.isReady(bookstore), false, 'the issuance could not be recorded');
    fail = false;
    const ensuring = h.manager.ensure(bookstore);
    assert.equal(h.manager.isReady(bookstore), false, 'still being issued');
    await ensuring;
    assert.equal(h.manager.isReady(bookstore), true);
    assert.equal(h.manager.isReady(bookbuyer), false, 'per identity');
    h.manager.forget(bookstore);
    assert.equal(h.manager.isReady(bookstore), false, 'forgotten');
    await h.manager.ensure(bookbuyer);
    h.manager.close();
    assert.equal(h.manager.isReady(bookbuyer), false, 'closed: ensure would fail');
  });

  it('walks a root rotation through its phases in order', async () => {
    const h = harness();
    const phases: RootRotationPhase[] = [];
    h.manager.on('rootRotationPhase', (p) => phases.push(p.phase));
    await h.manager.ensure(bookstore);
    await h.manager.ensure(bookbuyer);
    await assert.rejects(h.manager.reissueUnderNewRoot(), RootRotationError);
    await assert.rejects(h.manager.completeRootRotation(), RootRotationError);
    await h.manager.beginRootRotation();
    assert.equal(h.manager.rootRotationPhase(), 'overlap');
    assert.deepEqual(h.manager.trustBundle(), ['root-1', 'root-2']);
    assert.deepEqual(h.externals.filter((e) => e.name === CertExternals.trustBundle).at(-1)?.value, ['root-1', 'root-2']);
    assert.match(h.certsOf('bookstore', 'bookstore').at(-1)!.certPem, /by root-1/, 'leaves untouched in overlap');
    await assert.rejects(h.manager.beginRootRotation(), /already in phase "overlap"/);
    await h.manager.reissueUnderNewRoot();
    assert.equal(h.manager.rootRotationPhase(), 'reissued');
    assert.match(h.certsOf('bookstore', 'bookstore').at(-1)!.certPem, /by root-2/);
    assert.match(h.certsOf('bookbuyer', 'bookbuyer').at(-1)!.certPem, /by root-2/);
    assert.deepEqual(h.manager.trustBundle(), ['root-1', 'root-2'], 'old root still trusted until completion');
    await h.manager.completeRootRotation();
    assert.deepEqual(h.manager.trustBundle(), ['root-2']);
    assert.deepEqual(phases, ['overlap', 'reissued', 'stable']);
    assert.equal(h.issued.filter((i) => i.reason === 'root-rotation').length, 2);
  });

  it('re-issues under the new root even when an issuance under the old one is in flight', async () => {
    const h = harness();
    await h.manager.ensure(bookstore);
    await h.manager.beginRootRotation();
    h.clock.advance(24 * HOUR); // expired: the next ensure issues again, under root-1
    const inflight = h.manager.ensure(bookstore);
    const reissue = h.manager.reissueUnderNewRoot();
    await inflight;
    await reissue;
    assert.match(h.certsOf('bookstore', 'bookstore').at(-1)!.certPem, /by root-2/);
    assert.equal(h.issuer.serial, 3);
  });

  it('runs a whole root rotation with propagation waits on the clock', async () => {
    const h = harness();
    await h.manager.ensure(bookstore);
    const done = h.manager.rotateRoot({ propagationMs: 30_000 });
    await new Promise((r) => setImmediate(r));
    assert.equal(h.manager.rootRotationPhase(), 'overlap');
    h.clock.advance(30_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.manager.rootRotationPhase(), 'reissued');
    h.clock.advance(30_000);
    await done;
    assert.equal(h.manager.rootRotationPhase(), 'stable');
    assert.deepEqual(h.manager.trustBundle(), ['root-2']);
  });

  it('refuses a root rotation when the issuer cannot rotate its root', async () => {
    const h = harness({ noRotation: true });
    await assert.rejects(h.manager.beginRootRotation(), (e: unknown) => e instanceof RootRotationError && /issuer "plain" cannot rotate/.test(e.message));
  });

  it('caches the xDS server certificate and announces each rotation', async () => {
    const h = harness({ random: () => 0 });
    const rotated: string[] = [];
    h.manager.on('serverCertificate', (s) => rotated.push(`${s.dnsNames.join(',')} ${s.certificate.serial}`));
    const a = await h.manager.serverCertificate(['weft.weft-system.svc', 'localhost']);
    const b = await h.manager.serverCertificate(['localhost', 'weft.weft-system.svc']);
    assert.equal(a, b);
    assert.deepEqual(h.issuer.requests[0]!.dnsNames, ['weft.weft-system.svc', 'localhost']);
    assert.equal(h.issuer.requests[0]!.commonName, 'weft.weft-system.svc');
    assert.equal(h.issuer.requests[0]!.usage, 'server');
    assert.equal(h.appended.length, 0, 'serving certificates are not mesh identities');
    h.clock.advance(0.7 * 24 * HOUR);
    await h.manager.settled();
    assert.deepEqual(rotated, ['localhost,weft.weft-system.svc 0002']);
    assert.equal((await h.manager.serverCertificate(['localhost', 'weft.weft-system.svc'])).serial, '0002');
  });

  it('stops rotating forgotten identities and everything on close', async () => {
    const h = harness();
    await h.manager.ensure(bookstore);
    await h.manager.ensure(bookbuyer);
    h.manager.forget(bookstore);
    h.clock.advance(24 * HOUR);
    await h.manager.settled();
    assert.equal(h.certsOf('bookstore', 'bookstore').length, 1);
    assert.equal(h.certsOf('bookbuyer', 'bookbuyer').length, 2);
    h.manager.close();
    h.clock.advance(24 * HOUR);
    await h.manager.settled();
    assert.equal(h.certsOf('bookbuyer', 'bookbuyer').length, 2);
    await assert.rejects(h.manager.ensure(bookstore), /closed/);
  });

  it('rejects a rotation window outside (0, 1)', () => {
    const clock = new ManualClock();
    const issuer = new FakeIssuer(clock);
    const base = { issuer, engine: { setExternal: () => new Set<string>() }, log: { append: async () => [] }, logger: captureLogger(), clock };
    assert.throws(() => new CertificateManager({ ...base, rotationWindow: { from: 0.9, to: 0.7 } }), /rotation window/);
    assert.throws(() => new CertificateManager({ ...base, rotationWindow: { from: 0.5, to: 1 } }), /rotation window/);
  });
});
