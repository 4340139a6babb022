import * as path from 'node:path';
import { Catalog } from '../catalog/catalog.js';
import { WeftError } from '../errors.js';
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
}

export class BootstrapError extends WeftError {
  constructor(message: string) {
    super('BOOTSTRAP_FAILED', message);
  }
}

export async function bootstrapFor(config: WeftConfig, target: BootstrapTarget, logger: Logger): Promise<unknown> {
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
  return adapter.bootstrap(proxy, server);
}
