import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WeftMetrics } from './metrics.js';

test('the log lag gauge reads its source at scrape time', async () => {
  const metrics = new WeftMetrics({ defaultMetrics: false });
  let lag = 7;
  metrics.measureLogLag(() => lag);
  assert.match(await metrics.registry.metrics(), /^weft_log_lag_events 7$/m);
  lag = 0;
  assert.match(await metrics.registry.metrics(), /^weft_log_lag_events 0$/m);
});

test('observeBatch counts events by kind and op and moves the offset gauge', async () => {
  const metrics = new WeftMetrics({ defaultMetrics: false });
  metrics.observeBatch({ events: [{ kind: 'Service', op: 'upsert', offset: 4 }, { kind: 'Workload', op: 'delete', offset: 5 }] });
  metrics.observeBatch({
    events: [
      { kind: 'Service', op: 'upsert', offset: 6 },
      { kind: 'Service', op: 'delete', offset: 7 },
      { kind: 'Service', op: 'upsert', offset: 8 },
    ],
  });
  const text = await metrics.registry.metrics();
  assert.match(text, /^weft_events_applied_total\{kind="Service",op="upsert"\} 3$/m);
  assert.match(text, /^weft_events_applied_total\{kind="Service",op="delete"\} 1$/m);
  assert.match(text, /^weft_events_applied_total\{kind="Workload",op="delete"\} 1$/m);
  assert.match(text, /^weft_log_offset 8$/m);
});
