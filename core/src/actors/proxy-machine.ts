import { assign, fromPromise, setup } from 'xstate';

/**
 * One connected proxy's life as a state machine (xstate v5), written as data. Its context is plain data; its
 * I/O (retaining roots, preparing certificates, asking for a push, reading the NACK state) is given through
 * `provide()`, once per server, by stream id.
 *
 *   handshake -> syncing -> idle <-> holding      (holding: the newest response of a type was NACKed; the proxy
 *        \________________/  \        /            keeps its last good config until it accepts a newer one)
 *                              coalescing          (a change fell inside the coalescing window: wait out the rest)
 *   any -> closed (roots released)
 *
 * `syncing` runs the `prepare` actor (e.g. issuing the identity's first certificate) and is entered only when
 * something must be awaited before the first push; a proxy with nothing to prepare (no certificate manager,
 * or its identity's certificate is already current) goes from handshake straight to idle and asks for its
 * push in the same step. In a connect storm nearly every proxy takes that path, so it costs no child actor,
 * no promise and no extra turn of the event loop.
 *
 * The machine is off the per-change path: a log batch marks sessions dirty and one flush pushes every proxy
 * that is idle or holding and outside its window, without an event to its actor. Only a proxy changed within
 * the window of its last push is sent DEFER, and only then does a timer run for it; a push that answers the
 * proxy's own requests (a new subscription, an ACK freeing a blocked type) is never deferred.
 */

export interface ProxyMachineInput {
  /** The stream the provided implementations act on. */
  readonly streamId: number;
}

export interface ProxyMachineContext {
  readonly streamId: number;
  /** How long the current coalescing wait lasts (ms), from the DEFER that started it. */
  readonly waitMs: number;
  /** Pushes deferred into a coalescing window over the proxy's life. */
  readonly deferrals: number;
}

export type ProxyMachineEvent =
  /** The stream is accepted: retain the proxy's roots and prepare its first push. */
  | { readonly type: 'CONNECTED' }
  /** A change is due but the proxy was pushed less than a window ago: push after `waitMs`. */
  | { readonly type: 'DEFER'; readonly waitMs: number }
  /** The proxy NACKed the newest response of a type. */
  | { readonly type: 'NACKED' }
  /** The proxy accepted a response newer than the one it NACKed. */
  | { readonly type: 'RECOVERED' }
  | { readonly type: 'CLOSE' };

export type ProxyStateName = 'handshake' | 'syncing' | 'idle' | 'holding' | 'coalescing' | 'settling' | 'closed';

/** Stand-ins for the implementations a server provides; a machine used without them fails loudly. */
const unprovided = (name: string) => (): never => {
  throw new Error(`proxy machine: "${name}" was not provided`);
};

export const proxyMachine = setup({
  types: {
    context: {} as ProxyMachineContext,
    events: {} as ProxyMachineEvent,
    input: {} as ProxyMachineInput,
  },
  actors: {
    /** Work needed before the first push (e.g. making sure the identity has a certificate). */
    prepare: fromPromise<void, { streamId: number }>(async () => undefined),
  },
  actions: {
    /** Retains the proxy's root derivations (once, on connect). */
    retainRoots: unprovided('retainRoots'),
    /** Releases them (once, on close). */
    releaseRoots: unprovided('releaseRoots'),
    /** Queues the proxy for the next flush, which plans and writes its push. */
    requestPush: unprovided('requestPush'),
    /** Preparation failed: the stream is ended with a status. */
    reportFailure: unprovided('reportFailure'),
    recordWait: assign({
      waitMs: ({ event }) => (event.type === 'DEFER' ? Math.max(0, event.waitMs) : 0),
      deferrals: ({ context }) => context.deferrals + 1,
    }),
  },
  guards: {
    /** The session still holds a NACKed response as its newest of some type. */
    holdingNack: unprovided('holdingNack'),
    /**
     * The proxy has something to await before its first push. Prepared unless a server says otherwise: the
     * default `prepare` does nothing, so skipping it is an optimisation a server opts into.
     */
    needsPreparation: () => true,
  },
  delays: {
    coalesce: ({ context }) => context.waitMs,
  },
}).createMachine({
  id: 'proxy',
  context: ({ input }) => ({ streamId: input.streamId, waitMs: 0, deferrals: 0 }),
  initial: 'handshake',
  on: {
    CLOSE: { target: '.closed' },
  },
  states: {
    handshake: {
      on: {
        CONNECTED: [
          { guard: 'needsPreparation', target: 'syncing', actions: 'retainRoots' },
          { target: 'idle', actions: ['retainRoots', 'requestPush'] },
        ],
      },
    },
    syncing: {
      invoke: {
        src: 'prepare',
        input: ({ context }) => ({ streamId: context.streamId }),
        onDone: { target: 'idle', actions: 'requestPush' },
        onError: { target: 'closed', actions: 'reportFailure' },
      },
    },
    idle: {
      on: {
        DEFER: { target: 'coalescing', actions: 'recordWait' },
        NACKED: { target: 'holding' },
      },
    },
    holding: {
      on: {
        DEFER: { target: 'coalescing', actions: 'recordWait' },
        RECOVERED: { target: 'idle' },
      },
    },
    coalescing: {
      // NACKED and RECOVERED need no handling here: `settling` reads the session when the wait is over.
      after: { coalesce: { target: 'settling', actions: 'requestPush' } },
    },
    settling: {
      always: [{ guard: 'holdingNack', target: 'holding' }, { target: 'idle' }],
    },
    closed: {
      type: 'final',
      entry: 'releaseRoots',
    },
  },
});
