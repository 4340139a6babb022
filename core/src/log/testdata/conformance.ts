/**
 * Behaviour every EventLog must have, run against each implementation by its own test file.
 */
import assert from 'node:assert/strict';
import type * as NodeTest from 'node:test';
import { InvalidEventError } from '../errors.js';
import type { EventInput, EventLog, LogBatch } from '../types.js';
import { inputFor, inputs, workloadFor } from './events.js';

async function collect(iter: AsyncIterable<LogBatch>): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of iter) out.push(b);
  return out;
}

/** What a stored event must look like for an input. */
export function expectEvent(input: EventInput, offset: number): Record<string, unknown> {
  const e: Record<string, unknown> = {
    v: 1,
    offset,
    source: input.source,
    op: input.op,
    kind: input.kind,
    key: input.key,
  };
  if (input.body !== undefined) e['body'] = JSON.parse(JSON.stringify(input.body));
  return e;
}

function strip(batch: LogBatch): Record<string, unknown>[] {
  return batch.events.map((e) => {
    const { time: _time, ...rest } = e;
    return rest;
  });
}

export function eventLogConformance(name: string, open: () => Promise<EventLog>): void {
  // Loaded when the suite is registered, not when the module is: @weft/core's barrel exports this suite for
  // backends outside the core, and importing @weft/core must not load the test runner.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { test } = require('node:test') as typeof NodeTest;
  test(`${name}: appends get contiguous offsets and read back as written`, async () => {
    const log = await open();
    try {
      assert.equal(log.head(), 0);
      const a = inputs('ns-a', 3);
      const b = inputs('ns-b', 5);
      assert.deepEqual(await log.append(a), [0, 1, 2]);
      assert.deepEqual(await log.append(b), [3, 4, 5, 6, 7]);
      assert.equal(log.head(), 8);
      const batches = await collect(log.read());
      assert.equal(batches.length, 2, 'each append is one batch');
      assert.deepEqual(strip(batches[0]!), a.map((e, i) => expectEvent(e, i)));
      assert.deepEqual(strip(batches[1]!), b.map((e, i) => expectEvent(e, 3 + i)));
      // Reading from inside a batch gives only the events at or past `from`.
      const tail = await collect(log.read(5));
      assert.deepEqual(tail.map((x) => x.events.map((e) => e.offset)), [[5, 6, 7]]);
      assert.deepEqual(await collect(log.read(8)), []);
    } finally {
      await log.close();
    }
  });

  test(`${name}: a batch with an invalid event is refused whole`, async () => {
    const log = await open();
    try {
      await log.append(inputs('ok', 2));
      const bad: EventInput[] = [
        inputFor('ns/one'),
        { source: 'test', op: 'upsert', kind: 'Workload', key: 'ns/nan', body: { x: Number.NaN } },
      ];
      await assert.rejects(log.append(bad), (err: unknown) => {
        assert.ok(err instanceof InvalidEventError);
        assert.equal(err.index, 1);
        assert.match(err.message, /ns\/nan/);
        assert.match(err.message, /NaN/);
        return true;
      });
      await assert.rejects(
        log.append([{ source: 'test', op: 'upsert', kind: 'Pod' as never, key: 'ns/p', body: {} }]),
        /kind "Pod" is not one of/,
      );
      await assert.rejects(log.append([{ source: 'test', op: 'upsert', kind: 'Workload', key: 'ns/p' }]), /must carry/);
      await assert.rejects(
        log.append([{ source: 'test', op: 'delete', kind: 'Workload', key: 'ns/p', body: {} }]),
        /delete carries no body/,
      );
      await assert.rejects(log.append([{ source: '', op: 'delete', kind: 'Workload', key: 'ns/p' }]), /source/);
      assert.equal(log.head(), 2, 'nothing of a refused batch was written');
      assert.deepEqual(await log.append([]), []);
      assert.equal(log.head(), 2);
      const events = (await collect(log.read())).flatMap((b) => b.events);
      assert.deepEqual(events.map((e) => e.offset), [0, 1]);
    } finally {
      await log.close();
    }
  });

  test(`${name}: bodies are stored canonically and times are kept or filled in`, async () => {
    const log = await open();
    try {
      const body = { ...workloadFor('ns/w'), extra: undefined, z: [1, undefined] };
      const before = Date.now();
      await log.append([
        { source: 's', op: 'upsert', kind: 'Workload', key: 'ns/w', body, time: 1234 },
        { source: 's', op: 'delete', kind: 'Workload', key: 'ns/x' },
      ]);
      const [batch] = await collect(log.read());
      const [e0, e1] = batch!.events;
      assert.equal(e0!.time, 1234);
      assert.ok(e1!.time >= before && e1!.time <= Date.now() + 1);
      assert.deepEqual(e0!.body, { ...workloadFor('ns/w'), z: [1, null] });
      assert.ok(!('extra' in (e0!.body as object)));
      assert.ok(!('body' in e1!), 'a delete has no body');
    } finally {
      await log.close();
    }
  });

  test(`${name}: read() stops at the head of the time of the call`, async () => {
    const log = await open();
    try {
      await log.append(inputs('x', 2));
      const iter = log.read(0);
      await log.append(inputs('y', 2));
      const seen = (await collect(iter)).flatMap((b) => b.events.map((e) => e.offset));
      assert.deepEqual(seen, [0, 1]);
    } finally {
      await log.close();
    }
  });

  test(`${name}: follow delivers history, then new batches, one handler call at a time`, async () => {
    const log = await open();
    try {
      await log.append(inputs('h', 2));
      await log.append(inputs('h2', 1));
      const seen: number[][] = [];
      let running = 0;
      let overlapped = false;
      let notify: () => void = () => undefined;
      const sub = log.follow(1, async (batch) => {
        running++;
        if (running > 1) overlapped = true;
        await new Promise((r) => setTimeout(r, 2));
        seen.push(batch.events.map((e) => e.offset));
        running--;
        notify();
      });
      const waitFor = async (n: number): Promise<void> => {
        while (seen.flat().length < n) await new Promise<void>((r) => (notify = r));
      };
      await waitFor(2);
      assert.deepEqual(seen, [[1], [2]]);
      await Promise.all([log.append(inputs('t1', 2)), log.append(inputs('t2', 1)), log.append(inputs('t3', 3))]);
      await waitFor(8);
      assert.deepEqual(seen.flat(), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(overlapped, false, 'handler calls never overlap');
      await sub.close();
      await log.append(inputs('after', 1));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen.flat().length, 8, 'no delivery after close');
    } finally {
      await log.close();
    }
  });

  test(`${name}: a follower that throws stops, others continue`, async () => {
    const log = await open();
    try {
      let bad = 0;
      const good: number[] = [];
      const s1 = log.follow(0, () => {
        bad++;
        throw new Error('handler failed');
      });
      const s2 = log.follow(0, (b) => {
        good.push(...b.events.map((e) => e.offset));
      });
      await log.append(inputs('a', 1));
      await log.append(inputs('b', 1));
      for (let i = 0; i < 50 && good.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(good, [0, 1]);
      assert.equal(bad, 1);
      await s1.close();
      await s2.close();
    } finally {
      await log.close();
    }
  });
}
