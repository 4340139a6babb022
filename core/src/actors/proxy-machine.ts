import { performance } from 'node:perf_hooks';
import { assign, fromPromise, setup } from 'xstate';
import type { AdsRequest } from '../xds/wire.js';
import type { PushCause, RequestOutcome, XdsSession } from '../xds/protocol.js';

/**
 * One connected proxy's life as a state machine (xstate v5), written as data: the behaviour lives in the
 * named actions, guards and actors below; the protocol bookkeeping in XdsSession; I/O behind ProxyPort.
 *
 *   handshake -> syncing -> settling -> idle <-> dirty -> pushing -> settling -> awaitingAck
 *                                        \-> holding (last response NACKed: the proxy keeps its last good config)
 *   any -> closed (roots released)
 *
 * `settling` is transient: it picks the next resting state from the session (more to send, a response in
 * flight, a NACK held, or nothing).
 */

/** What the machine needs from the outside world; the ADS server implements it per stream. */
export interface ProxyPort {
  /** Retains the proxy's root derivations (called once, on connect). */
  retain(): void;
  /** Releases them (called once, on close). */
  release(): void;
  /** Work needed before the first push, e.g. making sure the identity has a certificate. */
  prepare(): Promise<void>;
  /** Waits for a slot under the global bound on concurrent pushes; call the result to give it back. */
  acquireSlot(): Promise<() => void>;
  /** Plans and writes one push; called while holding a slot. */
  push(): void;
  /** Metrics, logs and convergence for a processed request. */
  requestHandled(outcome: RequestOutcome): void;
  /** A push or preparation failed; the port ends the stream with a status. */
  failed(error: unknown): void;
}

export interface ProxyMachineInput {
  readonly session: XdsSession;
  readonly port: ProxyPort;
  readonly coalesceMs: number;
}

export interface ProxyMachineContext extends ProxyMachineInput {
  readonly pushes: number;
  /** performance.now() when the last push finished; -Infinity before the first. */
  readonly lastPushAt: number;
}

export type ProxyMachineEvent =
  | { readonly type: 'CONNECTED' }
  | { readonly type: 'REQUEST'; readonly request: AdsRequest }
  | { readonly type: 'INVALIDATE'; readonly cause: PushCause }
  | { readonly type: 'CLOSE' };

const pushOnce = fromPromise<void, { port: ProxyPort; first: boolean }>(async ({ input }) => {
  if (input.first) await input.port.prepare();
  const release = await input.port.acquireSlot();
  try {
    input.port.push();
  } finally {
    release();
  }
});

const whileOpen = {
  REQUEST: { actions: 'applyRequest' },
  INVALIDATE: { actions: 'recordCause' },
  CLOSE: { target: '#proxy.closed' },
} as const;

const resting = {
  REQUEST: { target: 'settling', actions: 'applyRequest' },
  INVALIDATE: { target: 'dirty', actions: 'recordCause' },
  CLOSE: { target: 'closed' },
} as const;

export const proxyMachine = setup({
  types: {
    context: {} as ProxyMachineContext,
    events: {} as ProxyMachineEvent,
    input: {} as ProxyMachineInput,
  },
  actors: { pushOnce },
  actions: {
    retainRoots: ({ context }) => context.port.retain(),
    releaseRoots: ({ context }) => context.port.release(),
    applyRequest: ({ context, event }) => {
      if (event.type !== 'REQUEST') return;
      context.port.requestHandled(context.session.onRequest(event.request));
    },
    recordCause: ({ context, event }) => {
      if (event.type !== 'INVALIDATE') return;
      context.session.invalidate(event.cause);
    },
    countPush: assign({ pushes: ({ context }) => context.pushes + 1, lastPushAt: () => performance.now() }),
    reportFailure: ({ context, event }) => {
      context.port.failed((event as { error?: unknown }).error);
    },
  },
  guards: {
    needsPush: ({ context }) => context.session.needsPush,
    hasInflight: ({ context }) => context.session.hasInflight,
    holdingNack: ({ context }) => context.session.holdingNack,
  },
  delays: {
    // Leading edge: a change after a quiet window goes out at once (the rest of its batch still joins it, as
    // invalidations of one batch arrive synchronously); only a proxy pushed within the window waits out the rest
    // of it, so a busy proxy still gets at most one push per window.
    coalesce: ({ context }) => Math.max(0, Math.min(context.coalesceMs, context.lastPushAt + context.coalesceMs - performance.now())),
  },
}).createMachine({
  id: 'proxy',
  context: ({ input }) => ({ ...input, pushes: 0, lastPushAt: -Infinity }),
  initial: 'handshake',
  states: {
    handshake: {
      on: {
        CONNECTED: { target: 'syncing', actions: 'retainRoots' },
        REQUEST: { actions: 'applyRequest' },
        CLOSE: { target: 'closed' },
      },
    },
    syncing: {
      invoke: {
        src: 'pushOnce',
        input: ({ context }) => ({ port: context.port, first: true }),
        onDone: { target: 'settling', actions: 'countPush' },
        onError: { target: 'closed', actions: 'reportFailure' },
      },
      on: whileOpen,
    },
    settling: {
      always: [
        { guard: 'needsPush', target: 'dirty' },
        { guard: 'hasInflight', target: 'awaitingAck' },
        { guard: 'holdingNack', target: 'holding' },
        { target: 'idle' },
      ],
    },
    idle: { on: resting },
    awaitingAck: { on: resting },
    holding: { on: resting },
    dirty: {
      after: { coalesce: { target: 'pushing' } },
      on: whileOpen,
    },
    pushing: {
      invoke: {
        src: 'pushOnce',
        input: ({ context }) => ({ port: context.port, first: false }),
        onDone: { target: 'settling', actions: 'countPush' },
        onError: { target: 'closed', actions: 'reportFailure' },
      },
      on: whileOpen,
    },
    closed: {
      type: 'final',
      entry: 'releaseRoots',
    },
  },
});

export type ProxyStateName =
  | 'handshake'
  | 'syncing'
  | 'settling'
  | 'idle'
  | 'awaitingAck'
  | 'holding'
  | 'dirty'
  | 'pushing'
  | 'closed';
