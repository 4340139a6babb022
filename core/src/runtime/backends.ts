import { ConfigError } from '../errors.js';
import { createFileLogBackend, createMemoryLogBackend } from '../log/backends.js';
import type { EventLog, EventLogBackend } from '../log/types.js';
import type { Logger } from '../observe/logger.js';

/** The two logs the core ships: `file:<dir>` (the embedded default) and `memory:` (tests, throwaway runs). */
export function builtinBackends(logger: Logger): EventLogBackend[] {
  return [createFileLogBackend({ logger }), createMemoryLogBackend({ logger })];
}

export function schemeOf(location: string): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(location);
  // A bare directory means the file log, as for `weft log` commands.
  return m === null ? 'file' : m[1]!.toLowerCase();
}

/** Picks the backend for a location; a scheme served twice is a configuration mistake, not a tie to break. */
export function backendFor(location: string, backends: readonly EventLogBackend[], label: string): EventLogBackend {
  const scheme = schemeOf(location);
  const matching = backends.filter((b) => b.scheme === scheme);
  if (matching.length === 0) {
    const known = [...new Set(backends.map((b) => b.scheme))].sort().join(', ');
    throw new ConfigError(
      `${label}: log: no event-log backend serves "${scheme}:" (available: ${known}); ` +
        `load the plugin that provides it or use file:<dir>`,
    );
  }
  if (matching.length > 1) {
    throw new ConfigError(`${label}: log: ${matching.length} backends claim the scheme "${scheme}:"; load only one of them`);
  }
  return matching[0]!;
}

export async function openLog(
  location: string,
  backends: readonly EventLogBackend[],
  label: string,
  options: { readOnly?: boolean; keepRecords?: boolean } = {},
): Promise<EventLog> {
  const backend = backendFor(location, backends, label);
  return backend.open(location, options);
}
