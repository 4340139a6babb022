/**
 * The per-proxy work of a push that is Weft's own besides translation, in a loop and without the network:
 * an xDS session planning a push of one changed resource and taking its ACK, and the writing of ADS responses
 * around pre-encoded resources. `npm run bench` measures the same work among thousands of streams, where it
 * is too small against the noise to compare two builds; here it is not.
 *
 *   npm run bench:session -w bench -- [--sessions 1000] [--rounds 200] [--names 10] [--core DIR]
 *
 * `--core` points at another build's core/dist (e.g. a clone of an older commit) to measure that build's
 * session and encoder with the same loop: the before and after of a change, side by side in one run.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EncodedResource } from '@weft/core';
import type { AdsRequest, AdsResponse, XdsSession, encodeDeltaResponse, encodeSotwResponse } from '@weft/core/testing';
import { arg, cpuMs, stringArg } from './util.js';

/** The modules measured, loaded by path so that another build's can be measured by the same loop. */
interface Protocol {
  readonly XdsSession: typeof XdsSession;
}
interface Wire {
  readonly encodeDeltaResponse: typeof encodeDeltaResponse;
  readonly encodeSotwResponse: typeof encodeSotwResponse;
}

export interface SessionBenchOptions {
  readonly sessions: number;
  readonly rounds: number;
  /** Resources each session subscribes to; one of them changes per round. */
  readonly names: number;
  /** A core/dist directory; the benchmark's own by default. */
  readonly core?: string;
  /** Responses written per encoder figure (200,000 by default). */
  readonly encodeCalls?: number;
}

export interface SessionBenchResult {
  readonly mode: 'delta' | 'sotw';
  /** CPU microseconds per session for one push (one changed resource) and its ACK. */
  readonly pushAckMicros: number;
  /** Responses written: sessions x rounds when every push sent exactly the change. */
  readonly responses: number;
}

export interface EncodeResult {
  readonly label: string;
  readonly deltaNanos: number;
  readonly sotwNanos: number;
}

const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

async function load(core: string | undefined): Promise<{ protocol: Protocol; wire: Wire }> {
  const dir = core === undefined ? path.dirname(require.resolve('@weft/core')) : path.resolve(core);
  const url = (file: string): string => pathToFileURL(path.join(dir, 'xds', file)).href;
  return { protocol: (await import(url('protocol.js'))) as Protocol, wire: (await import(url('wire.js'))) as Wire };
}

const resource = (name: string, generation: number, bytes: number): EncodedResource => ({
  name,
  typeUrl: EDS,
  version: `v${generation}`,
  any: Buffer.alloc(bytes, generation & 0xff),
  dump: null,
});

/** Sessions in sync with `names` resources; each round changes one resource and pushes it to every session. */
export function sessionLoop(protocol: Protocol, mode: 'delta' | 'sotw', o: SessionBenchOptions): SessionBenchResult {
  const names = Array.from({ length: o.names }, (_, i) => `outbound|8080||ns-${i}/svc-${i}`);
  let set = new Map(names.map((n) => [n, resource(n, 0, 200)]));
  let hash = 'h0';
  const sessions = Array.from({ length: o.sessions }, () => new protocol.XdsSession({ mode, typeUrls: [EDS], invalidationsNameTypes: true }));
  const request = (nonce: string, version: string): AdsRequest =>
    mode === 'delta'
      ? { kind: 'delta', typeUrl: EDS, node: undefined, subscribe: nonce === '' ? names : [], unsubscribe: [], initialResourceVersions: new Map(), responseNonce: nonce, errorDetail: undefined }
      : { kind: 'sotw', typeUrl: EDS, node: undefined, versionInfo: version, resourceNames: names, responseNonce: nonce, errorDetail: undefined };
  const ack = (s: XdsSession, responses: readonly AdsResponse[]): number => {
    for (const r of responses) s.onRequest(request(r.nonce, r.kind === 'sotw' ? r.versionInfo : r.systemVersionInfo));
    return responses.length;
  };
  for (const s of sessions) {
    s.onRequest(request('', ''));
    ack(s, s.push(() => ({ set, hash })));
  }
  let responses = 0;
  const c0 = process.cpuUsage();
  for (let k = 1; k <= o.rounds; k++) {
    const name = names[k % names.length]!;
    set = new Map(set);
    set.set(name, resource(name, k, 200));
    hash = `h${k}`;
    const desired = { set, hash };
    for (const s of sessions) {
      s.invalidate({ offsets: [k], appendedAt: undefined }, [EDS]);
      const out = s.push(() => desired);
      if (out.length !== 1 || out[0]!.resources.length !== 1 || out[0]!.resources[0]!.name !== name) {
        throw new Error(`round ${k}: a push sent ${out.map((r) => r.resources.map((x) => x.name).join(',')).join(' | ')} instead of ${name} alone`);
      }
      responses += ack(s, out);
    }
  }
  return { mode, pushAckMicros: (cpuMs(c0) * 1000) / (o.rounds * o.sessions), responses };
}

/** Nanoseconds per written response, delta and SotW, for a few resource counts and sizes. */
export function encodeLoop(wire: Wire, calls: number): EncodeResult[] {
  const shapes: [string, number, number][] = [
    ['1 x 200 B', 1, 200],
    ['10 x 300 B', 10, 300],
    ['3 x 6 KiB', 3, 6144],
  ];
  return shapes.map(([label, count, bytes]) => {
    const resources = Array.from({ length: count }, (_, i) => resource(`outbound|8080||ns-${i}/svc-${i}`, i, bytes));
    const base = { typeUrl: EDS, nonce: '12345', resources };
    const n = Math.max(1, Math.round(calls / count));
    const time = (f: () => unknown): number => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) f();
      return Number(process.hrtime.bigint() - t) / n;
    };
    time(() => wire.encodeDeltaResponse({ ...base, systemVersionInfo: '0123456789abcdef', removed: [] }));
    const deltaNanos = time(() => wire.encodeDeltaResponse({ ...base, systemVersionInfo: '0123456789abcdef', removed: [] }));
    time(() => wire.encodeSotwResponse({ ...base, versionInfo: '0123456789abcdef' }));
    const sotwNanos = time(() => wire.encodeSotwResponse({ ...base, versionInfo: '0123456789abcdef' }));
    return { label, deltaNanos, sotwNanos };
  });
}

export async function sessionBench(o: SessionBenchOptions, report: (line: string) => void): Promise<{ sessions: SessionBenchResult[]; encode: EncodeResult[] }> {
  const { protocol, wire } = await load(o.core);
  const sessions: SessionBenchResult[] = [];
  for (const mode of ['delta', 'sotw'] as const) {
    // The first pass warms the code up; the second is the figure.
    sessionLoop(protocol, mode, { ...o, rounds: Math.max(1, Math.round(o.rounds / 4)) });
    const r = sessionLoop(protocol, mode, o);
    sessions.push(r);
    report(`session ${mode}: ${r.pushAckMicros.toFixed(2)} us CPU per push of one changed resource and its ACK (${o.sessions} sessions x ${o.rounds} rounds, ${o.names} names each)`);
  }
  const encode = encodeLoop(wire, o.encodeCalls ?? 200_000);
  for (const e of encode) report(`encode ${e.label}: delta ${e.deltaNanos.toFixed(0)} ns, SotW ${e.sotwNanos.toFixed(0)} ns per response`);
  return { sessions, encode };
}

async function main(): Promise<void> {
  const o: SessionBenchOptions = { sessions: arg('sessions', 1000), rounds: arg('rounds', 200), names: arg('names', 10), core: stringArg('core') };
  await sessionBench(o, (line) => process.stdout.write(`${line}\n`));
  process.stdout.write(`(core: ${o.core ?? 'this build'}, Node ${process.version})\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
