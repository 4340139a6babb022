import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog } from '../catalog/catalog.js';
import { WeftError } from '../errors.js';
import { proxyCertificateRequest } from '../certs/identity.js';
import type { CertificateIssuer } from '../certs/types.js';
import type { EventLogBackend } from '../log/types.js';
import type { Logger } from '../observe/logger.js';
import { Tokens } from '../plugin/api.js';
import type { BootstrapServer, ProxyAdapter, ProxyIdentity } from '../xds/adapter.js';
import { openLog } from '../runtime/backends.js';
import type { WeftConfig } from '../runtime/config.js';
import { loadConfiguredPlugins } from '../runtime/weft.js';

/**
 * `weft bootstrap`: the bootstrap file of one proxy, computed from the log the way the running control
 * plane sees it (the log folded into a catalog), by the adapter of the proxy's kind.
 */

export interface BootstrapTarget {
  /** "namespace/name" of the pod (Workload). */
  readonly pod?: string;
  readonly uuid?: string;
  readonly kind: string;
  /** Address proxies use to reach the ADS server; default the configured xds host (127.0.0.1 for 0.0.0.0). */
  readonly xdsAddress?: string;
  /** Directory where the proxy finds tls.crt, tls.key and ca.crt. */
  readonly tlsDir: string;
  /** Issue the proxy's client certificate and write tls.crt, tls.key and ca.crt here. */
  readonly writeCerts?: string;
}

export interface BootstrapOutput {
  readonly bootstrap: unknown;
  /** Files written for --write-certs. */
  readonly written: readonly string[];
}

export class BootstrapError extends WeftError {
  constructor(message: string) {
    super('BOOTSTRAP_FAILED', message);
  }
}

export async function bootstrapFor(config: WeftConfig, target: BootstrapTarget, logger: Logger): Promise<BootstrapOutput> {
  const { container } = await loadConfiguredPlugins(config, logger);
  const adapters = container.isRegistered(Tokens.ProxyAdapter, true)
    ? container.resolveAll<ProxyAdapter>(Tokens.ProxyAdapter)
    : [];
  const adapter = adapters.find((a) => a.kind === target.kind);
  if (adapter === undefined) {
    const kinds = adapters.map((a) => a.kind).join(', ') || 'none';
    throw new BootstrapError(`no proxy adapter for kind "${target.kind}" is loaded (loaded: ${kinds}); pass --kind or add the plugin`);
  }
  if (adapter.bootstrap === undefined) {
    throw new BootstrapError(`the "${target.kind}" adapter does not generate bootstrap files`);
  }

  const backends = container.resolveAll<EventLogBackend>(Tokens.EventLogBackend);
  const log = await openLog(config.log, backends, config.label, { readOnly: true });
  const catalog = new Catalog();
  try {
    for await (const batch of log.read(0)) catalog.apply(batch);
  } finally {
    await log.close();
  }

  let key: string | undefined = target.pod;
  if (target.uuid !== undefined) {
    key = catalog.lookup('workloadByProxyUuid', target.uuid)[0];
    if (key === undefined) {
      throw new BootstrapError(
        `no workload carries proxy uuid ${target.uuid} in the log at ${config.log}; check the osm-proxy-uuid label`,
      );
    }
  }
  const workload = key === undefined ? undefined : catalog.get('Workload', key);
  if (workload === undefined) {
    throw new BootstrapError(
      `no pod ${key ?? '?'} in the log at ${config.log} (${catalog.list('Workload').length} pods known); ` +
        'check namespace/name and that a source has loaded it',
    );
  }
  if (workload.proxyUuid === null) {
    throw new BootstrapError(`pod ${key} has no osm-proxy-uuid label, so no proxy identity; add the label`);
  }
  const proxy: ProxyIdentity = {
    uuid: workload.proxyUuid,
    kind: target.kind,
    serviceAccount: workload.serviceAccount,
    namespace: workload.meta.namespace,
    trustDomain: config.trustDomain,
  };
  const host = target.xdsAddress ?? (config.xds.host === '0.0.0.0' || config.xds.host === '::' ? '127.0.0.1' : config.xds.host);
  const server: BootstrapServer = {
    host,
    port: config.xds.port,
    ...(config.xds.insecure
      ? {}
      : {
          tls: {
            certFile: path.posix.join(target.tlsDir, 'tls.crt'),
            keyFile: path.posix.join(target.tlsDir, 'tls.key'),
            caFile: path.posix.join(target.tlsDir, 'ca.crt'),
          },
        }),
  };
  const bootstrap = adapter.bootstrap(proxy, server);
  if (target.writeCerts === undefined) return { bootstrap, written: [] };
  if (config.xds.insecure) throw new BootstrapError('--write-certs needs mTLS; the config sets xds.insecure: true');
  const issuers = container.isRegistered(Tokens.CertificateIssuer, true)
    ? container.resolveAll<CertificateIssuer>(Tokens.CertificateIssuer)
    : [];
  const issuer = issuers[0];
  if (issuer === undefined) throw new BootstrapError('--write-certs needs a certificate issuer plugin in the config');
  return { bootstrap, written: await writeProxyCertificates(issuer, proxy, target.writeCerts) };
}

/** The proxy's client certificate (CN <uuid>.<kind>.<sa>.<ns>.<td>), its key and the trust bundle, as files. */
async function writeProxyCertificates(issuer: CertificateIssuer, proxy: ProxyIdentity, dir: string): Promise<string[]> {
  const cert = await issuer.issue(
    proxyCertificateRequest(
      { uuid: proxy.uuid, kind: proxy.kind, serviceAccount: proxy.serviceAccount, namespace: proxy.namespace },
      { trustDomain: proxy.trustDomain },
    ),
  );
  await fs.promises.mkdir(dir, { recursive: true });
  const files = { crt: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key'), ca: path.join(dir, 'ca.crt') };
  await fs.promises.writeFile(files.crt, [cert.certPem, ...cert.chainPem].map((p) => p.trim()).join('\n') + '\n');
  // The key is for this proxy alone: owner-only from the first byte.
  await fs.promises.writeFile(files.key, cert.keyPem, { mode: 0o600 });
  await fs.promises.writeFile(files.ca, issuer.trustBundle().map((p) => p.trim()).join('\n') + '\n');
  return [files.crt, files.key, files.ca];
}
