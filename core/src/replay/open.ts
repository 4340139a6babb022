import type { CertificateIssuer } from '../certs/types.js';
import type { EventLogBackend } from '../log/types.js';
import { silentLogger, type Logger } from '../observe/logger.js';
import { Tokens } from '../plugin/api.js';
import { fileLogDir } from '../log/backends.js';
import { FileEventLog } from '../log/file-log.js';
import { inspectLog, type LogProblem } from '../log/inspect.js';
import { backendFor, openLog } from '../runtime/backends.js';
import { ReplayError } from './errors.js';
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
  /**
   * Damage a file log has past its last valid record (a torn tail): replay covers what precedes it. The
   * caller should show these; damage anywhere else fails the open.
   */
  readonly problems: readonly LogProblem[];
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
  const backends = resolve<EventLogBackend>(Tokens.EventLogBackend);
  // The file log is opened here rather than through its backend, to keep the records its open verifies:
  // the timeline takes them instead of reading the log a second time. The backend check still names a
  // scheme nothing serves; only the built-in backend serves file:.
  const log =
    backendFor(location, backends, config.label).scheme === 'file'
      ? await FileEventLog.open(fileLogDir(location), { readOnly: true, keepRecords: true, logger: logger.child({ component: 'log' }) })
      : await openLog(location, backends, config.label, { readOnly: true });
  // A read-only file log cuts a damaged tail silently (a writer may be mid-append); replay says so. The
  // log's own open found it: no second scan of every record.
  const problems =
    log instanceof FileEventLog
      ? log.tailDamage()
      : backendFor(location, backends, config.label).scheme === 'file'
        ? (await inspectLog(fileLogDir(location))).problems
        : [];
  try {
    const replay = await Replay.open(log, location, {
      adapters,
      trustDomain: config.trustDomain,
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(trustBundle === undefined ? {} : { trustBundle }),
    });
    return { replay, location, trustBundleFrom, problems };
  } catch (err) {
    if (err instanceof ReplayError && err.code === 'REPLAY_EMPTY_LOG' && problems.length > 0) {
      throw new ReplayError('REPLAY_EMPTY_LOG', `${err.message}: no record before the damage is readable (${problems.map(describeProblem).join('; ')})`, { cause: err });
    }
    throw err;
  } finally {
    await log.close();
  }
}

export function describeProblem(p: LogProblem): string {
  return `${p.severity} in ${p.file} at byte ${p.byteOffset}: ${p.reason}`;
}
