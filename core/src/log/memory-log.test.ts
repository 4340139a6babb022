import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureLogger } from '../observe/logger.js';
import { createMemoryLogBackend } from './backends.js';
import { MemoryEventLog } from './memory-log.js';
import { eventLogConformance } from './testdata/conformance.js';

eventLogConformance('MemoryEventLog', () => Promise.resolve(new MemoryEventLog({ logger: captureLogger() })));

test('memory backend answers "memory:" and refuses a path', async () => {
  const backend = createMemoryLogBackend();
  assert.equal(backend.scheme, 'memory');
  const log = await backend.open('memory:');
  assert.equal(log.head(), 0);
  await log.close();
  await assert.rejects(backend.open('memory:/tmp/x'), /takes no path/);
});

test('a closed memory log refuses appends', async () => {
  const log = new MemoryEventLog();
  await log.close();
  await assert.rejects(log.append([{ source: 's', op: 'delete', kind: 'Workload', key: 'a/b' }]), { code: 'LOG_UNAVAILABLE' });
});
