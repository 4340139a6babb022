import type { CertificateManager } from '../../certs/manager.js';
import type { Engine } from '../../derive/engine.js';
import type { Logger } from '../../observe/logger.js';
import type { WeftMetrics } from '../../observe/metrics.js';
import type { ProxyAdapter } from '../../xds/adapter.js';
import { XdsServer, type XdsTls } from '../../xds/server.js';
import type { WeftConfig } from '../config.js';
import type { Runner } from './runner.js';

export interface Listening {
  readonly host: string;
  readonly port: number;
}

/**
 * Names on the ADS server's certificate: the service names a proxy may dial (weft, weft.<mesh>.svc and the
 * FQDN under the trust domain), localhost, and the listen address when it is a concrete IP.
 */
export function xdsServerNames(config: WeftConfig): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = ['weft', `weft.${config.meshName}.svc`, `weft.${config.meshName}.svc.${config.trustDomain}`, 'localhost'];
  const ipAddresses = ['127.0.0.1'];
  const host = config.xds.host;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) && host !== '0.0.0.0' && host !== '127.0.0.1') ipAddresses.push(host);
  else if (!/^[\d.:]+$/.test(host) && host !== 'localhost') dnsNames.push(host);
  return { dnsNames, ipAddresses };
}

export interface CreatedXdsServer {
  readonly xds: XdsServer;
  readonly tls: XdsTls;
}

/**
 * The ADS server, created but not listening: what must hear about it first (the catalog's invalidations,
 * certificate rotations) is wired before `XdsListenerRunner` opens the port.
 */
export class XdsServerRunner implements Runner<CreatedXdsServer> {
  readonly name = 'xds server';
  private xds: XdsServer | undefined;

  constructor(
    private readonly inputs: {
      readonly config: WeftConfig;
      readonly engine: Engine;
      readonly adapters: readonly ProxyAdapter[];
      readonly certificates: CertificateManager | undefined;
      readonly metrics: WeftMetrics;
      readonly logger: Logger;
    },
  ) {}

  async start(): Promise<CreatedXdsServer> {
    const { config, engine, adapters, certificates, metrics, logger } = this.inputs;
    let tls: XdsTls = { mode: 'insecure' };
    if (!config.xds.insecure && certificates !== undefined) {
      const names = xdsServerNames(config);
      const cert = await certificates.serverCertificate(names.dnsNames, { ipAddresses: names.ipAddresses });
      tls = { mode: 'mtls', key: cert.keyPem, cert: [cert.certPem, ...cert.chainPem].join('\n'), ca: certificates.trustBundle() };
    }
    const xds = new XdsServer({
      engine,
      adapters: new Map(adapters.map((a) => [a.kind, a])),
      tls,
      trustDomain: config.trustDomain,
      maxProxies: config.xds.maxProxies,
      coalesceMs: config.xds.coalesceMs,
      maxConcurrentPushes: config.xds.maxConcurrentPushes,
      ...(config.xds.maxConnections === undefined ? {} : { maxConnections: config.xds.maxConnections }),
      idleConnectionTimeoutMs: config.xds.idleConnectionTimeoutMs,
      bufferPoolSize: config.xds.bufferPoolBytes,
      ...(certificates === undefined ? {} : { certificates }),
      metrics,
      logger,
    });
    this.xds = xds;
    return { xds, tls };
  }

  async stop(): Promise<void> {
    await this.xds?.close();
  }
}

/** Opens the ADS port. Closing it is the server's own stop (`XdsServerRunner`), which also ends the streams. */
export class XdsListenerRunner implements Runner<Listening> {
  readonly name = 'xds listener';

  constructor(
    private readonly inputs: {
      readonly config: Pick<WeftConfig, 'xds'>;
      readonly xds: XdsServer;
      readonly tls: XdsTls;
      readonly adapters: readonly ProxyAdapter[];
      readonly logger: Logger;
    },
  ) {}

  async start(): Promise<Listening> {
    const { config, xds, tls, adapters, logger } = this.inputs;
    const port = await xds.listen(config.xds.host, config.xds.port);
    logger.info('xds server listening', {
      address: `${config.xds.host}:${port}`,
      mode: tls.mode,
      adapters: adapters.map((a) => a.kind),
    });
    if (adapters.length === 0) logger.warn('no proxy adapter plugin is loaded; every proxy will be refused');
    return { host: config.xds.host, port };
  }

  async stop(): Promise<void> {}
}
