/**
 * Time as the certificate manager sees it. Injected so that tests can walk a certificate through its
 * lifetime in milliseconds of real time.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once, `delayMs` from now. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
}

// setTimeout overflows above 2^31-1 ms (~24.8 days) and fires at once; long delays are chained.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    let handle: NodeJS.Timeout;
    const due = Date.now() + Math.max(0, delayMs);
    const arm = (): void => {
      const left = due - Date.now();
      // A pending rotation must not keep the process alive on its own.
      handle = setTimeout(left > MAX_TIMEOUT_MS ? arm : callback, Math.min(Math.max(0, left), MAX_TIMEOUT_MS));
      handle.unref();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** A clock that moves only when told to; timers fire in due order during `advance`. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, { due: number; callback: () => void }>();

  constructor(start: number = Date.now()) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const id = this.seq++;
    this.timers.set(id, { due: this.current + Math.max(0, delayMs), callback });
    return { cancel: () => void this.timers.delete(id) };
  }

  /** Moves time forward, firing every timer that falls due (including ones armed by fired callbacks). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: [number, { due: number; callback: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].due <= target && (next === undefined || entry[1].due < next[1].due)) next = entry;
      }
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.current = Math.max(this.current, next[1].due);
      next[1].callback();
    }
    this.current = target;
  }

  /** Due times of the pending timers, soonest first. */
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.due).sort((a, b) => a - b);
  }
}
