/**
 * Weft's pieces as the benchmark composes them: the real catalog, engine and Envoy adapter over an event log,
 * with certificate material given as externals. Certificates are deterministic stand-ins (the translators do
 * not parse them), so that every process that builds this state gets byte-identical resources.
 */
import { createHash } from 'node:crypto';
import { CertExternals, type EventInput, type LogBatch, type ServiceCertificate } from '@weft/core';
import { Catalog, Engine, MemoryEventLog } from '@weft/core/testing';
import { EnvoyAdapter } from '@weft/plugin-envoy';
import type { GeneratedMesh } from './mesh.js';

export function fakePem(label: string): string {
  const body = createHash('sha256').update(label).digest('base64');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** A stand-in certificate for an identity; a new generation is a rotation. */
export function fakeServiceCert(ns: string, sa: string, generation: number): ServiceCertificate {
  const label = `${ns}/${sa}#${generation}`;
  const certPem = fakePem(`cert ${label}`);
  return {
    certPem,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${createHash('sha256').update(`key ${label}`).digest('base64')}\n-----END PRIVATE KEY-----\n`,
    chainPem: [],
    serial: createHash('sha256').update(`serial ${label}`).digest('hex').slice(0, 16),
    notAfter: '2030-01-01T00:00:00.000Z',
    fingerprint: createHash('sha256').update(certPem).digest('hex'),
  };
}

/** Every identity that can appear in a run: one service account per service, plus the added service's. */
export function identities(mesh: GeneratedMesh): [string, string][] {
  return [...mesh.services, 'ns-0/svc-new'].map((k) => k.split('/') as [string, string]);
}

export function setCertificates(engine: Pick<Engine, 'setExternal'>, mesh: GeneratedMesh): void {
  engine.setExternal(CertExternals.trustBundle, [fakePem('bench mesh root')]);
  for (const [ns, sa] of identities(mesh)) engine.setExternal(CertExternals.serviceCert(ns, sa), fakeServiceCert(ns, sa, 0));
}

export interface WeftState {
  readonly log: MemoryEventLog;
  readonly catalog: Catalog;
  readonly engine: Engine;
  readonly adapter: EnvoyAdapter;
}

/** Appends the mesh's initial batch and folds it into a fresh catalog and engine. */
export async function buildWeftState(mesh: GeneratedMesh): Promise<WeftState> {
  const log = new MemoryEventLog();
  await log.append(mesh.initial);
  const catalog = new Catalog();
  for await (const batch of log.read(0)) catalog.apply(batch);
  const engine = new Engine(catalog);
  setCertificates(engine, mesh);
  return { log, catalog, engine, adapter: new EnvoyAdapter() };
}

/** Appends one batch and returns it as the log stored it (what a follower would be handed). */
export async function appendAndRead(log: MemoryEventLog, events: readonly EventInput[]): Promise<LogBatch> {
  const offsets = await log.append(events);
  const first = offsets[0] ?? log.head();
  for await (const batch of log.read(first)) return batch;
  throw new Error(`appended batch at offset ${first} cannot be read back`);
}
