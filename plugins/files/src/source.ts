import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  danglingReferences,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_OBJECTS,
  listManifestFiles,
  ManifestFileError,
  readManifestFile,
  type Logger,
  type ResourceKind,
  type ResourceSource,
  type SourceSink,
} from '@weft/core';
import { diffResources, FolderState, idOf, type FileUpdate, type ParseOutcome } from './state.js';

export interface FilesSourceOptions {
  /** Source name on the events (and the key the runtime reconciles by); stable across restarts. */
  readonly name: string;
  /** Absolute directory to watch. */
  readonly dir: string;
  /** Quiet period after a change before the folder is rescanned. */
  readonly debounceMs: number;
  /** Periodic rescan, for file systems where fs.watch misses events; 0 turns it off. */
  readonly rescanMs: number;
  /**
   * Parses one file; may throw ManifestFileError to reject it whole, as it must when it defines more than
   * `maxResources`. The plugin's runs on a worker thread (ParseWorker).
   */
  readonly parse: (text: string, file: string, maxResources: number) => ParseOutcome | Promise<ParseOutcome>;
  /** Ends what `parse` holds (the plugin's worker thread); called by stop(). */
  readonly closeParser?: () => Promise<void>;
  /** A larger file is rejected before it is read; default DEFAULT_MAX_FILE_BYTES. */
  readonly maxFileBytes?: number;
  /** The most resources the folder may define in all; default DEFAULT_MAX_OBJECTS. */
  readonly maxObjects?: number;
  /** Content equality of two bodies (canonical JSON). */
  readonly same: (a: unknown, b: unknown) => boolean;
  readonly logger: Logger;
}

/**
 * Watches a folder of manifests. Every scan (the first one, and each one after a debounced change) reads
 * the folder, folds it into FolderState and appends the difference to what the log holds as ONE batch.
 */
export class FilesSource implements ResourceSource {
  readonly name: string;
  private readonly state = new FolderState();
  /** file -> what it was when last taken (a digest of its text, or why it was rejected), to skip it unchanged. */
  private readonly seen = new Map<string, string>();
  private published = new Map<string, { kind: ResourceKind; key: string; body: unknown }>();
  private reportedConflicts = new Set<string>();
  private reportedSkips = new Set<string>();
  private reportedDangling = new Set<string>();
  private sink: SourceSink | undefined;
  private watcher: fs.FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private rescan: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: FilesSourceOptions) {
    this.name = options.name;
  }

  /**
   * Starts watching. A start after stop() (a replica that is the log's writer again) begins from what the
   * catalog holds now, not from what this instance published in its last run: another writer may have
   * appended since.
   */
  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    this.again = false;
    this.published = new Map();
    this.reportedConflicts = new Set();
    this.reportedDangling = new Set();
    for (const [id, r] of sink.known()) this.published.set(id, { kind: r.kind, key: r.key, body: r.body });
    await this.scan();
    this.watch();
    if (this.options.rescanMs > 0) {
      this.rescan = setInterval(() => this.schedule(), this.options.rescanMs);
      this.rescan.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    if (this.rescan !== undefined) clearInterval(this.rescan);
    this.watcher?.close();
    this.watcher = undefined;
    // Closing the parser first ends a long parse at once: stopping never waits for a large file.
    await this.options.closeParser?.();
    await this.scanning;
  }

  private watch(): void {
    try {
      this.watcher = fs.watch(this.options.dir, { recursive: true }, () => this.schedule());
      this.watcher.on('error', (err) => {
        this.options.logger.warn('watching the manifest folder failed; relying on the periodic rescan', {
          dir: this.options.dir,
          error: err.message,
        });
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.options.logger.warn('cannot watch the manifest folder; relying on the periodic rescan', {
        dir: this.options.dir,
        error: (err as Error).message,
      });
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      if (this.scanning !== undefined) {
        this.again = true;
        return;
      }
      this.scanning = this.scanLoop().finally(() => {
        this.scanning = undefined;
      });
    }, this.options.debounceMs);
  }

  private async scanLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.scan();
      } catch (err) {
        // The next change or the periodic rescan tries again; the published state is untouched.
        this.options.logger.error('scanning the manifest folder failed', {
          dir: this.options.dir,
          error: (err as Error).message,
        });
      }
    } while (this.again && !this.stopped);
  }

  private async scan(): Promise<void> {
    const { logger, dir } = this.options;
    const { files, skipped } = await listManifestFiles(dir);
    const skips = new Set<string>();
    for (const s of skipped) {
      const k = `${s.path}|${s.reason}`;
      skips.add(k);
      if (!this.reportedSkips.has(k)) logger.warn(`${s.path}: ${s.reason}`, { file: s.path });
    }
    this.reportedSkips = skips;
    const present = new Set(files);
    for (const file of this.state.fileNames()) {
      if (!present.has(file)) {
        this.state.removeFile(file);
        this.seen.delete(file);
        logger.info('manifest file removed', { file });
      }
    }
    for (const file of files) {
      if (this.stopped) return;
      await this.takeFile(file);
    }

    const { resources, conflicts } = this.state.desired();
    const reported = new Set<string>();
    for (const c of conflicts) {
      const k = `${c.id}|${c.ignored}`;
      reported.add(k);
      if (!this.reportedConflicts.has(k)) {
        logger.error(`${c.id} is defined in both ${c.kept} and ${c.ignored}; keeping ${c.kept}, remove one of them`, {
          resource: c.id,
          files: [c.kept, c.ignored],
        });
      }
    }
    this.reportedConflicts = reported;

    // A reference to a resource the folder does not define (a TrafficSplit's missing backend) loads all the
    // same, as in `weft validate`; each is warned once when it appears, again only if it goes and comes back.
    const dangling = new Set<string>();
    for (const d of danglingReferences(resources.values())) {
      dangling.add(d.message);
      if (!this.reportedDangling.has(d.message)) {
        logger.warn(d.message, { resource: `${d.kind}/${d.key}`, path: d.path, missing: `${d.missing.kind}/${d.missing.key}` });
      }
    }
    this.reportedDangling = dangling;

    if (this.stopped) return;
    const events = diffResources(this.name, this.published, resources, this.options.same);
    if (events.length === 0 || this.sink === undefined) return;
    await this.sink.append(events);
    for (const e of events) {
      if (e.op === 'delete') this.published.delete(idOf(e));
      else this.published.set(idOf(e), { kind: e.kind, key: e.key, body: e.body });
    }
    logger.info('manifests applied', {
      upserts: events.filter((e) => e.op === 'upsert').length,
      deletes: events.filter((e) => e.op === 'delete').length,
    });
  }

  /**
   * Reads and parses one file into the folder state, unless it is unchanged. Whatever goes wrong with the
   * file (too large, over the object limit, unreadable, a parse that fails) rejects that file only: what it
   * last contributed stays in force and the scan goes on with the others.
   */
  private async takeFile(file: string): Promise<void> {
    const { logger, dir } = this.options;
    let fingerprint: string | undefined;
    let update: FileUpdate;
    try {
      const bytes = await readManifestFile(path.join(dir, file), file, this.options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
      const digest = createHash('sha256').update(bytes).digest('base64');
      const room = Math.max(0, (this.options.maxObjects ?? DEFAULT_MAX_OBJECTS) - this.state.resourceCount(file));
      // Remembered if the parse rejects the file: it is tried again when it changes, or when the room the
      // object limit leaves it does (another file gave some up).
      fingerprint = `${digest} with room for ${room}`;
      const seen = this.seen.get(file);
      if (seen === digest || seen === fingerprint) return;
      const outcome = await this.options.parse(bytes.toString('utf8'), file, room);
      if (this.stopped) return;
      fingerprint = digest;
      update = this.state.updateFile(file, outcome);
      for (const e of outcome.errors) {
        logger.error('invalid manifest rejected', { file, document: e.document, error: e.message });
      }
      for (const note of outcome.ignored ?? []) logger.info('manifest document ignored', { file, note });
      for (const id of update.duplicates) {
        logger.error('resource defined twice in one file; the first definition is used', { file, resource: id });
      }
    } catch (err) {
      // Deleted between listing and reading: the next scan sees it gone.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || this.stopped) return;
      const error = err instanceof ManifestFileError ? err.message : `${file}: cannot be loaded: ${(err as Error).message}`;
      // Remembered (by content when it was read, else by the error) so that a rescan does not report it again.
      fingerprint ??= `rejected: ${error}`;
      if (this.seen.get(file) === fingerprint) return;
      update = this.state.rejectFile(file);
      logger.error('manifest file rejected', { file, error });
    }
    this.seen.set(file, fingerprint);
    if (update.kept.length > 0) {
      logger.warn('keeping the last good version of resources whose document is invalid; fix the file to apply changes', {
        file,
        resources: update.kept,
      });
    }
  }
}
