/**
 * Which files of a folder are manifests, and the limits a manifest file is held to: the rules the files
 * source and `weft validate` share. The walk is written once, without I/O of its own (it yields the file
 * system calls it needs), so the source runs it asynchronously and `weft validate` synchronously.
 *
 * The walk is recursive, takes *.yaml, *.yml and *.json, and skips entries whose name starts with "." (so
 * the `..data` and `..<timestamp>` entries of a Kubernetes ConfigMap volume are not read a second time).
 * Symlinks are followed, to files and to folders: a ConfigMap volume is a folder of symlinks
 * (`a.yaml -> ..data/a.yaml`, `..data -> ..2026_12_07_...`). A symlinked folder that leads back to one of
 * its own ancestors (a loop), or to a folder the walk has already been through (a second route), is not
 * entered; it is listed in `skipped` instead. A dangling symlink is passed over: it is what a key removed
 * from a ConfigMap leaves for a moment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WeftError } from '../errors.js';

export const MANIFEST_FILE_NAME = /\.(ya?ml|json)$/i;

/** A manifest file above this size is rejected before it is read (the files source's `maxFileBytes`). */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** The most resources a folder may define in all (the files source's `maxObjects`). */
export const DEFAULT_MAX_OBJECTS = 100_000;

/** A manifest file rejected as a whole (too large, too many objects, unreadable): nothing of it is used. */
export class ManifestFileError extends WeftError {
  readonly file: string;
  /** The message without the file name. */
  readonly reason: string;
  constructor(file: string, reason: string, options: { cause?: unknown } = {}) {
    super('MANIFEST_FILE_REJECTED', `${file}: ${reason}`, options);
    this.file = file;
    this.reason = reason;
  }
}

/** Throws ManifestFileError when `size` is over the limit; called with the size from a stat, before reading. */
export function checkManifestSize(file: string, size: number, maxBytes: number): void {
  if (size > maxBytes) {
    throw new ManifestFileError(
      file,
      `is ${formatBytes(size)}, more than the ${formatBytes(maxBytes)} a manifest file may have (maxFileBytes); ` +
        'split it into smaller files',
    );
  }
}

function formatBytes(n: number): string {
  if (n < 1024 * 1024) return `${n} bytes`;
  const mib = n / (1024 * 1024);
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB (${n} bytes)`;
}

/** A symlink the walk did not follow, and why. */
export interface SkippedEntry {
  /** Relative to the folder, "/"-separated. */
  readonly path: string;
  readonly reason: string;
}

export interface ManifestListing {
  /** Manifest files relative to the folder, "/"-separated (the path a symlink was found at), sorted. */
  readonly files: string[];
  readonly skipped: SkippedEntry[];
}

/** The file system calls the walk needs; `stat` and `realpath` follow symlinks. */
type FsCall =
  | { readonly call: 'readdir'; readonly path: string }
  | { readonly call: 'stat'; readonly path: string }
  | { readonly call: 'realpath'; readonly path: string };

interface FsResults {
  readdir: fs.Dirent[];
  stat: fs.Stats;
  realpath: string;
}

/** Yields each call and receives its result (or has its error thrown in), so one walk serves sync and async. */
function* walkFolder(dir: string): Generator<FsCall, ManifestListing, FsResults[keyof FsResults]> {
  const files: string[] = [];
  const skipped: SkippedEntry[] = [];
  // Real path of every folder walked -> the relative path it was walked as ("" for the folder itself).
  const walked = new Map<string, string>();

  function* walk(rel: string, real: string, ancestors: ReadonlySet<string>): Generator<FsCall, void, FsResults[keyof FsResults]> {
    walked.set(real, rel);
    const entries = (yield { call: 'readdir', path: path.join(dir, rel) }) as fs.Dirent[];
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      const abs = path.join(dir, child);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        let target: fs.Stats;
        try {
          target = (yield { call: 'stat', path: abs }) as fs.Stats;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue;
          if (code === 'ELOOP') {
            skipped.push({ path: child, reason: 'symlink loop: the link resolves to itself; not followed' });
            continue;
          }
          throw err;
        }
        isDir = target.isDirectory();
        isFile = target.isFile();
      }
      if (isFile) {
        if (MANIFEST_FILE_NAME.test(e.name)) files.push(child);
        continue;
      }
      if (!isDir) continue;
      const childReal = e.isSymbolicLink() ? ((yield { call: 'realpath', path: abs }) as string) : path.join(real, e.name);
      const first = walked.get(childReal);
      if (first !== undefined) {
        const where = first === '' ? 'the folder itself' : first;
        skipped.push({
          path: child,
          reason: ancestors.has(childReal)
            ? `symlink loop: leads back to ${where}; not followed`
            : `leads to ${where}, which is already scanned; not scanned twice`,
        });
        continue;
      }
      yield* walk(child, childReal, new Set([...ancestors, childReal]));
    }
  }

  const root = (yield { call: 'realpath', path: dir }) as string;
  yield* walk('', root, new Set([root]));
  return { files: files.sort(), skipped };
}

/** The calls, asynchronous and synchronous. */
const ASYNC_FS: { [C in keyof FsResults]: (p: string) => Promise<FsResults[C]> } = {
  readdir: (p) => fs.promises.readdir(p, { withFileTypes: true }),
  stat: (p) => fs.promises.stat(p),
  realpath: (p) => fs.promises.realpath(p),
};
const SYNC_FS: { [C in keyof FsResults]: (p: string) => FsResults[C] } = {
  readdir: (p) => fs.readdirSync(p, { withFileTypes: true }),
  stat: (p) => fs.statSync(p),
  realpath: (p) => fs.realpathSync(p),
};

/** The manifest files under `dir` (see the module comment for the rules). */
export async function listManifestFiles(dir: string): Promise<ManifestListing> {
  const walker = walkFolder(dir);
  let step = walker.next();
  while (step.done !== true) {
    let result: FsResults[keyof FsResults];
    try {
      result = await ASYNC_FS[step.value.call](step.value.path);
    } catch (err) {
      step = walker.throw(err);
      continue;
    }
    step = walker.next(result);
  }
  return step.value;
}

/** listManifestFiles for a command-line tool, which may block. */
export function listManifestFilesSync(dir: string): ManifestListing {
  const walker = walkFolder(dir);
  let step = walker.next();
  while (step.done !== true) {
    let result: FsResults[keyof FsResults];
    try {
      result = SYNC_FS[step.value.call](step.value.path);
    } catch (err) {
      step = walker.throw(err);
      continue;
    }
    step = walker.next(result);
  }
  return step.value;
}

/**
 * Reads a manifest file within the size limit: the size is checked on the open file before reading, and
 * again on what was read (the file may have grown in between). Throws ManifestFileError over the limit.
 */
export async function readManifestFile(abs: string, file: string, maxBytes: number): Promise<Buffer> {
  const handle = await fs.promises.open(abs, 'r');
  try {
    checkManifestSize(file, (await handle.stat()).size, maxBytes);
    const bytes = await handle.readFile();
    checkManifestSize(file, bytes.length, maxBytes);
    return bytes;
  } finally {
    await handle.close();
  }
}

/** readManifestFile for a command-line tool, which may block. */
export function readManifestFileSync(abs: string, file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(abs, 'r');
  try {
    checkManifestSize(file, fs.fstatSync(fd).size, maxBytes);
    const bytes = fs.readFileSync(fd);
    checkManifestSize(file, bytes.length, maxBytes);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}
