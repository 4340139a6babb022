import { CertificateManager } from '../../certs/manager.js';
import type { CertificateIssuer } from '../../certs/types.js';
import type { Engine } from '../../derive/engine.js';
import type { EventLog } from '../../log/types.js';
import type { Logger } from '../../observe/logger.js';
import type { WeftMetrics } from '../../observe/metrics.js';
import type { XdsServer } from '../../xds/server.js';
import { countIssuedCertificates, pushCertificateChanges } from '../cert-push.js';
import type { WeftConfig } from '../config.js';
import type { AppendHealth } from '../readiness.js';
import { Teardown, type Runner } from './runner.js';
import { xdsServerNames } from './xds.js';

/** The certificate manager over the one issuer plugin: proxies' identities, the ADS server's own, the trust bundle. */
export class CertificatesRunner implements Runner<CertificateManager> {
  readonly name = 'certificates';
  private readonly teardown: Teardown;

  constructor(
    private readonly inputs: {
      readonly config: Pick<WeftConfig, 'trustDomain'>;
      readonly issuer: CertificateIssuer;
      readonly engine: Engine;
      readonly log: Pick<EventLog, 'leadership'>;
      readonly appends: Pick<AppendHealth, 'append'>;
      readonly metrics: WeftMetrics;
      readonly logger: Logger;
    },
  ) {
    this.teardown = new Teardown(inputs.logger);
  }

  async start(): Promise<CertificateManager> {
    const { config, issuer, engine, log, appends, metrics, logger } = this.inputs;
    // A follower does not append: its issuance records are left to the log (it still issues and serves).
    const records = {
      append: (batch: Parameters<AppendHealth['append']>[0]) =>
        log.leadership !== undefined && log.leadership.state().role !== 'writer' ? Promise.resolve([]) : appends.append(batch),
    };
    const manager = new CertificateManager({ issuer, engine, log: records, logger, trustDomain: config.trustDomain });
    this.teardown.add('certificates', () => manager.close());
    // Subscribed before the first issuance (the ADS server's own certificate) so every one is counted.
    this.teardown.add('certificate metrics', countIssuedCertificates(manager, metrics));
    logger.info('certificate issuer ready', { issuer: issuer.name });
    return manager;
  }

  async stop(): Promise<void> {
    await this.teardown.run();
  }
}

/**
 * Rotated identity certificates and trust bundles re-pushed over SDS, and the ADS server's serving
 * certificate and client trust swapped. Wired after the server exists and before it listens, so no
 * rotation falls between.
 */
export class CertificatePushRunner implements Runner {
  readonly name = 'certificate push';
  private readonly teardown: Teardown;

  constructor(
    private readonly inputs: {
      readonly config: WeftConfig;
      readonly certificates: CertificateManager;
      readonly xds: XdsServer;
      /** Whether the ADS server serves mTLS with a certificate of the manager's. */
      readonly mtls: boolean;
      readonly logger: Logger;
    },
  ) {
    this.teardown = new Teardown(inputs.logger);
  }

  async start(): Promise<void> {
    const { config, certificates, xds, mtls } = this.inputs;
    if (mtls) {
      this.teardown.add('trust bundle watch', certificates.on('trustBundle', ({ bundle }) => xds.setTrustBundle(bundle)));
    }
    this.teardown.add(
      'certificate push',
      pushCertificateChanges(certificates, xds, mtls ? { servingDnsNames: xdsServerNames(config).dnsNames } : {}),
    );
  }

  async stop(): Promise<void> {
    await this.teardown.run();
  }
}
