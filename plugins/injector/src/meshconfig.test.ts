import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meshConfigReader, pickMeshConfig, type MeshConfigLister } from './meshconfig.js';

const mc = (namespace: string, name: string): Record<string, unknown> => ({ metadata: { namespace, name }, spec: { traffic: { outboundPortExclusionList: [53] } } });

describe('MeshConfig reader', () => {
  it('picks the first MeshConfig by namespace/name; none is undefined', async () => {
    assert.equal(pickMeshConfig([]), undefined);
    assert.deepEqual(pickMeshConfig([mc('osm-system', 'z'), mc('osm-system', 'osm-mesh-config'), mc('b', 'a')]), mc('b', 'a'));
    const lister: MeshConfigLister = { list: async (type) => (assert.equal(type.plural, 'meshconfigs'), { items: [mc('osm-system', 'osm-mesh-config')] }) };
    assert.deepEqual(await meshConfigReader(lister)(), mc('osm-system', 'osm-mesh-config'));
  });
  it('no MeshConfig CRD (404) reads as none; any other failure is thrown', async () => {
    const failing = (status: number): MeshConfigLister => ({ list: async () => Promise.reject(Object.assign(new Error(`HTTP ${status}`), { status })) });
    assert.equal(await meshConfigReader(failing(404))(), undefined);
    await assert.rejects(meshConfigReader(failing(403))(), /HTTP 403/);
  });
});
