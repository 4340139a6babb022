import * as fs from 'node:fs';
import * as path from 'node:path';
import { danglingReferences, type Logger, type ResourceKind, type ResourceSource, type SourceSink } from '@weft/core';
import { diffResources, FolderState, idOf, type ParseOutcome } from './state.js';

export interface FilesSourceOptions {
  /** Source name on the events (and the key the runtime reconciles by); stable across restarts. */
  readonly name: string;
  /** Absolute directory to watch. */
  readonly dir: string;
  /** Quiet period after a change before the folder is rescanned. */
  readonly debounceMs: number;
  /** Periodic rescan, for file systems where fs.watch misses events; 0 turns it off. */
  readonly rescanMs: number;
  readonly parse: (text: string, file: string) => ParseOutcome;
  /** Content equality of two bodies (canonical JSON). */
  readonly same: (a: unknown, b: unknown) => boolean;
  readonly logger: Logger;
}

const MANIFEST = /\.(ya?ml|json)$/i;

/** Manifest files under dir, recursively, relative paths with "/" separators, sorted; dot-entries skipped. */
export async function listManifests(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.promises.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(child);
      else if (e.isFile() && MANIFEST.test(e.name)) out.push(child);
    }
  };
  await walk('');
  return out.sort();
}

/**
 * Watches a folder of manifests. Every scan (the first one, and each one after a debounced change) reads
 * the folder, folds it into FolderState and appends the difference to what the log holds as ONE batch.
 */
export class FilesSource implements ResourceSource {
  readonly name: string;
  private readonly state = new FolderState();
  private readonly texts = new Map<string, string>();
  private published = new Map<string, { kind: ResourceKind; key: string; body: unknown }>();
  private reportedConflicts = new Set<string>();
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

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
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
    const files = await listManifests(dir);
    const present = new Set(files);
    for (const file of this.state.fileNames()) {
      if (!present.has(file)) {
        this.state.removeFile(file);
        this.texts.delete(file);
        logger.info('manifest file removed', { file });
      }
    }
    for (const file of files) {
      let text: string;
      try {
        text = await fs.promises.readFile(path.join(dir, file), 'utf8');
      } catch (err) {
        // Deleted between listing and reading: the next scan sees it gone.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (this.texts.get(file) === text) continue;
      this.texts.set(file, text);
      const outcome = this.options.parse(text, file);
      const update = this.state.updateFile(file, outcome);
      for (const e of outcome.errors) {
        logger.error('invalid manifest rejected', { file, document: e.document, error: e.message });
      }
      for (const note of outcome.ignored ?? []) logger.info('manifest document ignored', { file, note });
      for (const id of update.duplicates) {
        logger.error('resource defined twice in one file; the first definition is used', { file, resource: id });
      }
      if (update.kept.length > 0) {
        logger.warn('keeping the last good version of resources whose document is invalid; fix the file to apply changes', {
          file,
          resources: update.kept,
        });
      }
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
}
