/**
 * Test support: a temp folder, an event log (memory, or a real file log) folded into a Catalog, and files
 * sources on the folder wired as the runtime wires them. Not loaded by the plugin itself.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  captureLogger,
  silentLogger,
  Tokens,
  type EventLog,
  type LogBatch,
  type ResourceSource,
  type SourceSink,
  type Subscription,
} from '@weft/core';
import { builtinBackends, Catalog, createSourceSink, openLog } from '@weft/core/testing';
import { parseManifestText } from './parse.js';
import { plugin, sameContent } from './index.js';
import { FilesSource } from './source.js';

export async function until(what: string, check: () => boolean, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class Harness {
  /** The watched folder. */
  readonly dir: string;
  readonly catalog = new Catalog();
  readonly batches: LogBatch[] = [];
  readonly logger = captureLogger();
  log!: EventLog;
  private readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-files-'));
  private sub!: Subscription;
  private readonly sources: ResourceSource[] = [];

  constructor() {
    this.dir = path.join(this.root, 'manifests');
    fs.mkdirSync(this.dir);
  }

  /** `file`: a real file log under the temp folder; otherwise an in-memory one. */
  async open(options: { log?: 'memory' | 'file' } = {}): Promise<this> {
    const location = options.log === 'file' ? `file:${path.join(this.root, 'log')}` : 'memory:';
    this.log = await openLog(location, builtinBackends(silentLogger), 'test');
    this.sub = this.log.follow(0, (b) => {
      this.batches.push(b);
      this.catalog.apply(b);
    });
    return this;
  }

  write(file: string, text: string): void {
    const p = path.join(this.dir, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }

  remove(file: string): void {
    fs.rmSync(path.join(this.dir, file));
  }

  /** A FilesSource built directly, parsing on the main thread (core's parser, no worker). */
  async start(options: { rescanMs?: number } = {}): Promise<FilesSource> {
    const source = new FilesSource({
      name: 'files',
      dir: this.dir,
      debounceMs: 20,
      rescanMs: options.rescanMs ?? 0,
      parse: parseManifestText,
      same: sameContent,
      logger: this.logger,
    });
    await this.run(source);
    return source;
  }

  /** The source as `weft start` builds it: the plugin's config checks and register(), its worker parser. */
  async startPlugin(config: Record<string, unknown> = {}): Promise<ResourceSource> {
    let source: ResourceSource | undefined;
    const container = {
      register: (token: unknown, provider: { useValue: ResourceSource }) => {
        if (token === Tokens.ResourceSource) source = provider.useValue;
      },
    };
    const checked = plugin.validateConfig!({ dir: this.dir, debounceMs: 20, rescanMs: 0, ...config });
    await plugin.register(container as never, checked, {
      logger: this.logger,
      dataDir: this.root,
      configDir: this.root,
      trustDomain: 'cluster.local',
    });
    assert.ok(source !== undefined, 'the plugin registers a resource source');
    await this.run(source);
    return source;
  }

  /** Starts a source that ran and was stopped again, as the runtime does when a replica becomes the writer again. */
  async startAgain(source: ResourceSource): Promise<void> {
    await this.run(source);
  }

  private async run(source: ResourceSource): Promise<void> {
    const sink: SourceSink = createSourceSink(source, this.log, this.catalog, this.logger);
    await source.start(sink);
    this.sources.push(source);
    await this.caughtUp();
  }

  async caughtUp(): Promise<void> {
    await until('the catalog to catch up', () => this.catalog.lastOffset >= this.log.head() - 1);
  }

  port(name: string): number | undefined {
    return this.catalog.get('Service', `shop/${name}`)?.ports[0]?.port;
  }

  errors(): string[] {
    return this.logger.records.filter((r) => r.level === 'error').map((r) => `${r.msg} ${String(r.error ?? '')}`);
  }

  async stopAll(): Promise<void> {
    for (const s of this.sources.splice(0)) await s.stop();
  }

  async close(): Promise<void> {
    await this.stopAll();
    await this.sub.close();
    await this.log.close();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
