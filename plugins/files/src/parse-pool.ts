import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { ManifestFileError } from '@weft/core';
import type { ParseDone, ParseReply, ParseRequest } from './parse-worker.js';
import type { ParsedResource, ParseOutcome } from './state.js';

interface Pending {
  readonly file: string;
  readonly resolve: (reply: ParseDone) => void;
  readonly reject: (error: Error) => void;
  /** The parse's deadline, set once the worker says it has begun. */
  timer: NodeJS.Timeout | undefined;
}

/** How long the main thread rebuilds parsed resources before it lets timers and I/O run. */
const SLICE_MS = 8;

/**
 * Parses manifest files on one worker thread, so that a large file (seconds of YAML parsing) never holds the
 * event loop: health checks answer and signals are handled while it parses. The worker starts with the first
 * parse and ends with close(). Its heap and each parse's time are capped: a file whose parse needs more
 * memory, or runs past `timeoutMs` (the YAML parser has inputs far slower than their size suggests, e.g. a
 * mapping with tens of thousands of keys), is rejected and the worker replaced for the next file, instead of
 * taking the process down or holding up every later scan.
 */
export class ParseWorker {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly options: { readonly maxHeapMb: number; readonly timeoutMs: number }) {}

  async parse(text: string, file: string, maxResources: number): Promise<ParseOutcome> {
    const id = this.nextId++;
    const reply = await new Promise<ParseDone>((resolve, reject) => {
      this.pending.set(id, { file, resolve, reject, timer: undefined });
      const request: ParseRequest = { id, text, file, maxResources };
      const worker = this.ensureWorker();
      worker.ref();
      worker.postMessage(request);
    });
    if ('error' in reply) throw reply.rejected ? new ManifestFileError(file, reply.error) : new Error(reply.error);
    // One JSON.parse per resource, in slices: a file of tens of thousands of resources is rebuilt without a
    // long pause of the loop (one structured clone of them all would be one).
    const resources: ParsedResource[] = [];
    let slice = Date.now();
    for (const json of reply.resources) {
      resources.push(JSON.parse(json) as ParsedResource);
      if (Date.now() - slice >= SLICE_MS) {
        await yieldToLoop();
        slice = Date.now();
      }
    }
    return { resources, errors: reply.errors, ignored: reply.ignored };
  }

  /**
   * Ends the worker; parses in flight fail. A parse after close() starts a new worker: the source that owns
   * this parser is started again when its replica becomes the log's writer again.
   */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failPending(() => new Error('the manifest parser was closed'));
    await worker?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(path.join(__dirname, 'parse-worker.js'), {
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb },
    });
    worker.on('message', (reply: ParseReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      if ('started' in reply) {
        // Timed from here, not from the request: starting the thread (loading the parser) is not the file's.
        p.timer = setTimeout(() => this.timedOut(worker), this.options.timeoutMs);
        return;
      }
      clearTimeout(p.timer);
      this.pending.delete(reply.id);
      // An idle worker does not keep the process alive; one that is parsing does, like any pending I/O.
      if (this.pending.size === 0) worker.unref();
      p.resolve(reply);
    });
    // A worker already replaced (timed out, closed) had its parses failed then; what it does on its way out
    // must not fail the parses of the worker that replaced it.
    worker.on('error', (err: Error & { code?: string }) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const reason =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `parsing it needs more than the parser's ${this.options.maxHeapMb} MiB of memory; split it into smaller files`
          : `the parser failed on it: ${err.message}`;
      this.failPending((file) => new ManifestFileError(file, reason));
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failPending((file) => new ManifestFileError(file, 'the parser stopped while parsing it'));
    });
    this.worker = worker;
    return worker;
  }

  private timedOut(worker: Worker): void {
    if (this.worker === worker) this.worker = undefined;
    const seconds = this.options.timeoutMs / 1000;
    this.failPending((file) => new ManifestFileError(file, `parsing it took longer than ${seconds} s (parseTimeoutMs); split it into smaller files`));
    void worker.terminate();
  }

  private failPending(error: (file: string) => Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(error(p.file));
    }
  }
}
