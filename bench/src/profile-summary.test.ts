import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placeOf, summarize, type CpuProfile } from './profile-summary.js';

describe('profile summary', () => {
  it('names where code lives: an npm package (scoped or not), a Weft package folder, node, V8', () => {
    assert.equal(placeOf('file:///x/node_modules/@grpc/grpc-js/build/src/server.js'), '@grpc/grpc-js');
    assert.equal(placeOf('file:///x/node_modules/protobufjs/src/writer.js'), 'protobufjs');
    assert.equal(placeOf('file:///x/core/dist/xds/stream.js'), 'core/xds');
    assert.equal(placeOf('file:///x/plugins/envoy/dist/listeners.js'), 'plugins/envoy/.');
    assert.equal(placeOf('node:internal/http2/core'), 'node');
    assert.equal(placeOf(''), '(native)');
  });

  it('adds self time per sample, keeps idle, GC and the profiler itself apart', () => {
    const frame = (functionName: string, url: string): { functionName: string; url: string; lineNumber: number } => ({ functionName, url, lineNumber: 0 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4, 5] },
        { id: 2, callFrame: frame('(idle)', '') },
        { id: 3, callFrame: frame('push', 'file:///x/core/dist/xds/proxies.js') },
        { id: 4, callFrame: frame('(garbage collector)', '') },
        { id: 5, callFrame: frame('post', 'node:inspector'), children: [6] },
        { id: 6, callFrame: frame('dispatch', '') },
      ],
      startTime: 0,
      endTime: 14_000,
      samples: [2, 3, 3, 4, 2, 6],
      timeDeltas: [1000, 2000, 3000, 1500, 2500, 4000],
    };
    const s = summarize(profile);
    assert.equal(s.totalMs, 14);
    assert.equal(s.idleMs, 3.5);
    assert.equal(s.profilerMs, 4, "the inspector's dispatch is the profiler stopping, not the server");
    assert.equal(s.gcMs, 1.5);
    assert.deepEqual(s.functions[0], ['push proxies.js:1', 5]);
    assert.deepEqual(s.places, [['core/xds', 5], ['(native)', 1.5]]);
  });
});
