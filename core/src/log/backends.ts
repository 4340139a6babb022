/** The built-in EventLogBackends the runtime registers: `memory:` and `file:<dir>` (or a bare directory). */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { FileEventLog, type FileEventLogOptions } from './file-log.js';
import { MemoryEventLog } from './memory-log.js';
import type { EventLogBackend } from './types.js';

/** Each `memory:` open is a new, empty log. */
export function createMemoryLogBackend(options: { logger?: Logger } = {}): EventLogBackend {
  return {
    scheme: 'memory',
    open: (location) => {
      if (location !== 'memory:' && location !== 'memory') {
        return Promise.reject(new ConfigError(`event log location "${location}": the memory log takes no path; write "memory:"`));
      }
      return Promise.resolve(new MemoryEventLog(options));
    },
  };
}

/** The directory a `file:` location names: `file:<dir>`, `file:///abs/dir` or a bare path. */
export function fileLogDir(location: string): string {
  let dir = location;
  if (location.startsWith('file://')) dir = fileURLToPath(location);
  else if (location.startsWith('file:')) dir = location.slice('file:'.length);
  if (dir === '') throw new ConfigError(`event log location "${location}" names no directory; write "file:<dir>"`);
  return dir;
}

export function createFileLogBackend(options: Omit<FileEventLogOptions, 'readOnly' | 'keepRecords'> = {}): EventLogBackend {
  return {
    scheme: 'file',
    open: async (location, openOptions = {}) =>
      FileEventLog.open(fileLogDir(location), { ...options, readOnly: openOptions.readOnly ?? false, keepRecords: openOptions.keepRecords ?? false }),
  };
}

export const memoryLogBackend: EventLogBackend = createMemoryLogBackend();
export const fileLogBackend: EventLogBackend = createFileLogBackend();
