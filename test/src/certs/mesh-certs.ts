import { CertExternals, captureLogger, type CertificateIssuer, type EventLog, type ServiceCertificate } from '@weft/core';
import { CertificateManager, ManualClock, createMemoryLogBackend } from '@weft/core/testing';
import type { Credentials } from './tls-support.js';

export const bookstore = { namespace: 'bookstore', serviceAccount: 'bookstore' };
export const bookbuyer = { namespace: 'bookbuyer', serviceAccount: 'bookbuyer' };
export const serverName = (id: { namespace: string; serviceAccount: string }): string =>
  `${id.serviceAccount}.${id.namespace}.cluster.local`;

/**
 * A certificate manager wired to a recording engine and a real (memory) event log: what the SDS
 * derivations would read is kept here, and `onExternal` plays the proxy receiving the SDS push.
 */
export async function meshCerts(issuer: CertificateIssuer, options: { log?: EventLog } = {}) {
  const clock = new ManualClock();
  const externals = new Map<string, unknown>();
  const sets: string[] = [];
  const hooks: ((name: string) => void)[] = [];
  const engine = {
    setExternal(name: string, value: unknown): ReadonlySet<string> {
      externals.set(name, value);
      sets.push(name);
      for (const hook of hooks) hook(name);
      return new Set();
    },
  };
  const log = options.log ?? (await createMemoryLogBackend().open('memory:'));
  const logger = captureLogger();
  // random 0: rotation at exactly 70% of the lifetime, so a test knows when to move the clock.
  const manager = new CertificateManager({ issuer, engine, log, logger, clock, random: () => 0 });
  const credentials = (id: { namespace: string; serviceAccount: string }): Credentials & ServiceCertificate => {
    const cert = externals.get(CertExternals.serviceCert(id.namespace, id.serviceAccount)) as ServiceCertificate | undefined;
    if (cert === undefined) throw new Error(`no certificate for ${id.namespace}/${id.serviceAccount}`);
    return { ...cert, bundle: externals.get(CertExternals.trustBundle) as string[] };
  };
  return {
    clock,
    manager,
    log,
    logger,
    sets,
    credentials,
    onExternal: (hook: (name: string) => void) => hooks.push(hook),
  };
}
