import type { CertificateIssuer } from '../certs/types.js';
import type { EventLogBackend } from '../log/types.js';
import { silentLogger, type Logger } from '../observe/logger.js';
import { Tokens } from '../plugin/api.js';
import { openLog } from '../runtime/backends.js';
import type { WeftConfig } from '../runtime/config.js';
import { loadConfiguredPlugins } from '../runtime/weft.js';
import type { ProxyAdapter } from '../xds/adapter.js';
import { Replay } from './replay.js';

/**
 * A replay as the CLI runs it: the configuration's plugins give the proxy adapters and the log backends
 * (so `kafka:` works when the Kafka plugin is configured), the log is read once, read-only, and closed.
 */

export interface OpenReplayOptions {
  /** Log location; default the configuration's. */
  readonly log?: string;
  readonly kind?: string;
  /** Mesh roots (PEM); default the configured issuer's current trust bundle, if an issuer is loaded. */
  readonly trustBundle?: readonly string[];
  readonly logger?: Logger;
}

export interface OpenedReplay {
  readonly replay: Replay;
  readonly location: string;
  /** Where the trust bundle came from: the caller, the configured issuer, or nowhere. */
  readonly trustBundleFrom: 'given' | 'issuer' | 'none';
}

export async function openReplay(config: WeftConfig, options: OpenReplayOptions = {}): Promise<OpenedReplay> {
  const logger = options.logger ?? silentLogger;
  const { container } = await loadConfiguredPlugins(config, logger);
  const resolve = <T>(token: string): T[] => (container.isRegistered(token, true) ? container.resolveAll<T>(token) : []);
  const adapters = resolve<ProxyAdapter>(Tokens.ProxyAdapter);
  const issuers = resolve<CertificateIssuer>(Tokens.CertificateIssuer);
  let trustBundle = options.trustBundle;
  let trustBundleFrom: OpenedReplay['trustBundleFrom'] = trustBundle === undefined ? 'none' : 'given';
  if (trustBundle === undefined && issuers.length === 1) {
    trustBundle = issuers[0]!.trustBundle();
    trustBundleFrom = 'issuer';
  }
  const location = options.log ?? config.log;
  const log = await openLog(location, resolve<EventLogBackend>(Tokens.EventLogBackend), config.label, { readOnly: true });
  try {
    const replay = await Replay.open(log, location, {
      adapters,
      trustDomain: config.trustDomain,
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(trustBundle === undefined ? {} : { trustBundle }),
    });
    return { replay, location, trustBundleFrom };
  } finally {
    await log.close();
  }
}
