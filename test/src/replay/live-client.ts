import { ADD_ORDER } from '@weft/core';
import { DeltaClient, type DecodedResource } from '../support/delta-client.js';

/**
 * A proxy stand-in for replay tests: one delta ADS stream subscribed to everything ('*') of every type,
 * ACKing each response and keeping what it holds, so that "what the proxy last ACKed" is observable.
 */
export class AckingProxy {
  readonly held = new Map<string, Map<string, DecodedResource>>();
  responses = 0;
  lastResponseAt = Date.now();
  private readonly client: DeltaClient;
  private stopped = false;
  readonly done: Promise<void>;

  constructor(
    address: string,
    readonly uuid: string,
    readonly namespace: string,
    readonly serviceAccount: string,
  ) {
    this.client = new DeltaClient(address, { id: `${uuid}.envoy.${serviceAccount}.${namespace}.cluster.local` });
    for (const typeUrl of ADD_ORDER) this.client.request({ typeUrl, subscribe: ['*'] });
    this.done = this.pump();
  }

  private async pump(): Promise<void> {
    while (!this.stopped) {
      const res = await this.client.next(500).catch(() => undefined);
      if (res === undefined) continue;
      let set = this.held.get(res.typeUrl);
      if (set === undefined) this.held.set(res.typeUrl, (set = new Map()));
      for (const r of res.resources) set.set(r.name, r);
      for (const name of res.removedResources) set.delete(name);
      this.responses++;
      this.lastResponseAt = Date.now();
      this.client.ack(res);
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.done;
    this.client.close();
  }
}

/** Resolves once no proxy received anything for `quietMs` (and each got at least one response). */
export async function settled(proxies: readonly AckingProxy[], quietMs = 400, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = Date.now();
    if (proxies.every((p) => p.responses > 0 && now - p.lastResponseAt >= quietMs)) return;
    if (now > deadline) throw new Error(`proxies did not settle within ${timeoutMs} ms: ${proxies.map((p) => `${p.uuid}=${p.responses}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
