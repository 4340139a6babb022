import type { Logger } from '../../observe/logger.js';

/**
 * One part of a running control plane that starts and stops on its own: the log, the catalog, the ADS
 * server, the sources, ... Everything a runner needs is given to its constructor, so the order the parts
 * depend on each other is written once, in `startWeft`, and a runner can be started alone in a test.
 */
export interface Runner<Started = void> {
  /** Named in the log when stopping it fails. */
  readonly name: string;
  /** Starts the part and returns what later runners need from it. */
  start(): Promise<Started>;
  /**
   * Stops what `start()` started. Called even when `start()` threw half-way (a log opened but its replay
   * failed), so it undoes only what was done, and it is never called twice.
   */
  stop(): Promise<void>;
}

/**
 * Runners started in dependency order and stopped in the reverse order. A runner is stopped even if its
 * own start failed; a failed stop is logged and the others still stop, so one stuck part does not leave
 * the rest running.
 */
export class RunnerGroup {
  private readonly started: Runner<unknown>[] = [];
  private readonly stopping = new AbortController();

  constructor(private readonly logger: Logger) {}

  /**
   * Aborted as the group begins to stop, before any runner stops: work that waits (a source's append
   * retries, a writer-role change queued behind another) ends instead of outliving the stop.
   */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  async start<T>(runner: Runner<T>): Promise<T> {
    // Recorded before it starts, so that a start that fails half-way is still undone by stop().
    this.started.push(runner);
    return runner.start();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    for (const runner of this.started.reverse().splice(0)) {
      try {
        await runner.stop();
      } catch (err) {
        this.logger.error('stopping a component failed', { component: runner.name, error: (err as Error).message });
      }
    }
  }
}

/** Undo steps of one runner run newest first; each one's failure is logged and the next still runs. */
export class Teardown {
  private readonly steps: { name: string; run: () => unknown }[] = [];

  constructor(private readonly logger: Logger) {}

  add(name: string, run: () => unknown): void {
    this.steps.push({ name, run });
  }

  async run(): Promise<void> {
    for (const step of this.steps.reverse().splice(0)) {
      try {
        await step.run();
      } catch (err) {
        this.logger.error('stopping a component failed', { component: step.name, error: (err as Error).message });
      }
    }
  }
}
