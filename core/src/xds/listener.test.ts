import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultMaxConnections, openFilesLimit } from './listener.js';

describe('ADS connection limit default', () => {
  it('leaves room for every proxy plus 1,024, within 7/8 of the open-files limit', () => {
    assert.equal(defaultMaxConnections(10_000, 20_000), 11_024);
    assert.equal(defaultMaxConnections(20_000, 20_000), 17_500, 'the limit wins: the rest is for the log, plugins and servers');
    assert.equal(defaultMaxConnections(2, undefined), 1026, 'unknown limit: not clamped');
    assert.equal(defaultMaxConnections(10, 1), 1, 'never below one');
  });

  it('reads the soft open-files limit (undefined where there is none to read)', () => {
    const limit = openFilesLimit();
    assert.ok(limit === undefined || (Number.isInteger(limit) && limit > 0), String(limit));
  });
});
