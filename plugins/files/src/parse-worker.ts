/**
 * The parse worker's thread: takes { id, text, file, maxResources }, answers { id, started } as it begins,
 * then the outcome with each resource as a JSON string (so the main thread can rebuild them a few at a
 * time), or { id, error }.
 */
import * as os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { ManifestFileError } from '@weft/core';
import { parseManifestText } from './parse.js';

export interface ParseRequest {
  readonly id: number;
  readonly text: string;
  readonly file: string;
  readonly maxResources: number;
}

export type ParseDone =
  | {
      readonly id: number;
      readonly resources: readonly string[];
      readonly errors: ReturnType<typeof parseManifestText>['errors'];
      readonly ignored: readonly string[];
    }
  | { readonly id: number; readonly error: string; readonly rejected: boolean };

export type ParseReply = ParseDone | { readonly id: number; readonly started: true };

// Parsing is background work: on Linux, where a thread has its own priority, this thread yields the CPU to
// the main thread (health checks, xDS, signals) on a busy machine. Raising one's nice value needs no privilege.
if (process.platform === 'linux') {
  try {
    os.setPriority(0, 10);
  } catch {
    // Not fatal: the parse runs at the main thread's priority.
  }
}

parentPort?.on('message', (request: ParseRequest) => {
  parentPort!.postMessage({ id: request.id, started: true } satisfies ParseReply);
  let reply: ParseDone;
  try {
    const outcome = parseManifestText(request.text, request.file, request.maxResources);
    reply = {
      id: request.id,
      resources: outcome.resources.map((r) => JSON.stringify(r)),
      errors: outcome.errors,
      ignored: outcome.ignored ?? [],
    };
  } catch (err) {
    const rejected = err instanceof ManifestFileError;
    reply = { id: request.id, error: rejected ? err.reason : String((err as Error).message), rejected };
  }
  parentPort!.postMessage(reply);
});
