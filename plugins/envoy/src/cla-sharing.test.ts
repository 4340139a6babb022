/**
 * Load assignments are encoded once per distinct content: callers allowed the same endpoints of a service
 * share one encoding (one Any, one version), so an endpoint change encodes once however many identities
 * call the service; callers allowed different endpoints get one encoding each. Encodings nobody holds any
 * more are freed. Counts come from the engine's instrumentation.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, type EncodedResource, type Endpoints, type TrafficTarget, type Workload } from '@weft/core';
import { CLA_ADDRESSES_PREFIX, CLA_ENCODING_PREFIX } from './endpoints.js';
import { apply, loadMesh, type Mesh } from './harness.js';

const CALLERS = 15;
const CLUSTER = 'store/bookstore|14001';

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

/** bookstore is backed by two identities; every caller may reach bookstore-a, `bCallers` of them bookstore-b too. */
function meshYaml(bCallers: number): string {
  const docs: string[] = [];
  for (const ns of ['buyers', 'store']) docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    openservicemesh.io/monitored-by: osm\n`);
  docs.push(
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: bookstore\n  namespace: store\nspec:\n  clusterIP: 10.96.0.10\n  selector:\n    app: bookstore\n  ports:\n    - name: http\n      port: 14001\n      appProtocol: http\n`,
  );
  const pod = (ns: string, name: string, sa: string, app: string, ip: string, n: number): string =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels:\n    app: ${app}\n    osm-proxy-uuid: ${uuid(n)}\nspec:\n  serviceAccountName: ${sa}\n  containers:\n    - name: app\n      image: x\nstatus:\n  podIP: ${ip}\n`;
  docs.push(pod('store', 'bookstore-a-0', 'bookstore-a', 'bookstore', '10.244.2.11', 1));
  docs.push(pod('store', 'bookstore-b-0', 'bookstore-b', 'bookstore', '10.244.2.12', 2));
  for (let i = 0; i < CALLERS; i++) docs.push(pod('buyers', `caller-${i}`, `caller-${i}`, `caller-${i}`, `10.245.0.${i + 1}`, 100 + i));
  docs.push(
    `apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: bookstore\n  namespace: store\nsubsets:\n  - addresses:\n` +
      [['10.244.2.11', 'bookstore-a-0'], ['10.244.2.12', 'bookstore-b-0']]
        .map(([ip, p]) => `      - ip: ${ip}\n        targetRef:\n          kind: Pod\n          name: ${p}\n          namespace: store\n`)
        .join('') +
      `    ports:\n      - name: http\n        port: 14001\n`,
  );
  docs.push(`apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata:\n  name: all\n  namespace: store\nspec:\n  matches:\n    - name: all\n      pathRegex: ".*"\n      methods: ["*"]\n`);
  const target = (dest: string, callers: number): string =>
    `apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata:\n  name: to-${dest}\n  namespace: store\nspec:\n  destination:\n    kind: ServiceAccount\n    name: ${dest}\n    namespace: store\n  rules:\n    - kind: HTTPRouteGroup\n      name: all\n  sources:\n` +
    Array.from({ length: callers }, (_, i) => `    - kind: ServiceAccount\n      name: caller-${i}\n      namespace: buyers\n`).join('');
  docs.push(target('bookstore-a', CALLERS));
  docs.push(target('bookstore-b', bCallers));
  return docs.join('---\n');
}

interface Counted {
  readonly mesh: Mesh;
  /** Ids of the assignment encodings computed since the last reset. */
  readonly encodings: string[];
  /** Ids of the per-service-port address lists computed since the last reset. */
  readonly addresses: string[];
  readonly roots: string[];
}

function load(bCallers: number): Counted {
  const encodings: string[] = [];
  const addresses: string[] = [];
  const mesh = loadMesh(meshYaml(bCallers), 'mesh.yaml', {
    onEvent: (e) => {
      if (e.type === 'drop' || e.type === 'cutoff') return;
      if (e.id.startsWith(CLA_ENCODING_PREFIX)) encodings.push(e.id);
      if (e.id.startsWith(CLA_ADDRESSES_PREFIX)) addresses.push(e.id);
    },
  });
  const roots: string[] = [];
  for (const p of mesh.proxies) {
    const spec = mesh.adapter.resources(p, TypeUrl.ClusterLoadAssignment);
    mesh.engine.retain(spec.id);
    roots.push(spec.id);
  }
  return { mesh, encodings, addresses, roots };
}

/** The bookstore assignment each caller is served, by pod. */
function callerAssignments({ mesh }: Counted): Map<string, EncodedResource> {
  const out = new Map<string, EncodedResource>();
  for (const p of mesh.proxies) {
    if (!p.pod.startsWith('caller-')) continue;
    const cla = mesh.engine.get(mesh.adapter.resources(p, TypeUrl.ClusterLoadAssignment)).value.get(CLUSTER);
    assert.ok(cla !== undefined, `${p.pod} has no ${CLUSTER}`);
    out.set(p.pod, cla);
  }
  assert.equal(out.size, CALLERS);
  return out;
}

function heldEncodings({ mesh }: Counted): string[] {
  return mesh.engine
    .derivations()
    .map((d) => d.id)
    .filter((id) => id.startsWith(CLA_ENCODING_PREFIX) && id.includes(CLUSTER));
}

/** Moves bookstore-a's address; every caller's assignment changes. */
function moveA(c: Counted): void {
  const ep = c.mesh.catalog.get('Endpoints', 'store/bookstore') as Endpoints;
  const subset = ep.subsets[0];
  assert.ok(subset !== undefined);
  const addresses = subset.addresses.map((a) => (a.ip === '10.244.2.11' ? { ...a, ip: '10.244.2.99' } : a));
  apply(c.mesh, [{ op: 'upsert', kind: 'Endpoints', key: 'store/bookstore', body: { ...ep, subsets: [{ ...subset, addresses }] } }]);
}

const ips = (r: EncodedResource): string => JSON.stringify(r.dump).match(/10\.244\.2\.\d+/g)?.join(',') ?? '';

describe('load assignments shared by content', () => {
  it(`${CALLERS} callers allowed the same endpoints: one encoding, before and after an endpoint change`, () => {
    const c = load(CALLERS);
    const before = callerAssignments(c);
    assert.equal(new Set(before.values()).size, 1, 'every caller is served the same encoded assignment');
    assert.equal(c.encodings.filter((id) => id.includes(CLUSTER)).length, 1);
    c.encodings.length = 0;
    moveA(c);
    const after = callerAssignments(c);
    assert.deepEqual(c.encodings, [heldEncodings(c)[0]]);
    assert.equal(new Set(after.values()).size, 1);
    const cla = after.get('caller-0') as EncodedResource;
    assert.equal(ips(cla), '10.244.2.12,10.244.2.99');
    assert.notEqual(cla.version, before.get('caller-0')?.version);
    // The assignment before the change is held by nobody any more: freed, not kept.
    assert.equal(heldEncodings(c).length, 1);
  });

  it('two callers allowed different endpoints: two encodings; released roots free them all', () => {
    const c = load(1);
    const before = callerAssignments(c);
    assert.equal(ips(before.get('caller-0') as EncodedResource), '10.244.2.11,10.244.2.12');
    assert.equal(ips(before.get('caller-1') as EncodedResource), '10.244.2.11');
    c.encodings.length = 0;
    moveA(c);
    const after = callerAssignments(c);
    assert.equal(c.encodings.length, 2, c.encodings.join(', '));
    assert.equal(new Set(after.values()).size, 2);
    assert.equal(ips(after.get('caller-0') as EncodedResource), '10.244.2.12,10.244.2.99');
    assert.equal(ips(after.get('caller-1') as EncodedResource), '10.244.2.99');
    assert.ok([...after.values()].filter((r) => r === after.get('caller-1')).length === CALLERS - 1);
    assert.equal(heldEncodings(c).length, 2);
    for (const id of c.roots) c.mesh.engine.release(id);
    assert.deepEqual(
      c.mesh.engine.derivations().filter((d) => d.id.startsWith('envoy/cla')),
      [],
      'assignments and their encodings are freed with the last root that held them',
    );
  });

  it('an endpoint change reads the endpoints once for all callers, and the move reaches every caller', () => {
    const c = load(1);
    c.addresses.length = 0;
    moveA(c);
    const after = callerAssignments(c);
    assert.deepEqual(c.addresses, [`${CLA_ADDRESSES_PREFIX}${CLUSTER}`], 'one address list per service port, not one per caller');
    for (const [pod, cla] of after) assert.match(ips(cla), /10\.244\.2\.99/, `${pod} still has the old address`);
  });

  it('a caller whose policy stops allowing an endpoint no longer receives it; the endpoints are not read again', () => {
    const c = load(CALLERS);
    assert.equal(ips(callerAssignments(c).get('caller-0') as EncodedResource), '10.244.2.11,10.244.2.12');
    c.addresses.length = 0;
    const target = c.mesh.catalog.get('TrafficTarget', 'store/to-bookstore-b') as TrafficTarget;
    apply(c.mesh, [{ op: 'upsert', kind: 'TrafficTarget', key: 'store/to-bookstore-b', body: { ...target, sources: target.sources.slice(1) } }]);
    const after = callerAssignments(c);
    assert.equal(ips(after.get('caller-0') as EncodedResource), '10.244.2.11', 'caller-0 is no longer allowed bookstore-b');
    assert.equal(ips(after.get('caller-1') as EncodedResource), '10.244.2.11,10.244.2.12');
    assert.deepEqual(c.addresses, []);
  });

  it("a workload that changes identity behind the same address is filtered by its new identity", () => {
    const c = load(1);
    assert.equal(ips(callerAssignments(c).get('caller-1') as EncodedResource), '10.244.2.11');
    const w = c.mesh.catalog.get('Workload', 'store/bookstore-b-0') as Workload;
    apply(c.mesh, [{ op: 'upsert', kind: 'Workload', key: 'store/bookstore-b-0', body: { ...w, serviceAccount: 'bookstore-a' } }]);
    assert.equal(ips(callerAssignments(c).get('caller-1') as EncodedResource), '10.244.2.11,10.244.2.12', 'bookstore-b-0 now runs as bookstore-a');
    apply(c.mesh, [{ op: 'upsert', kind: 'Workload', key: 'store/bookstore-b-0', body: { ...w, serviceAccount: 'stranger' } }]);
    const after = callerAssignments(c);
    for (const [pod, cla] of after) assert.equal(ips(cla), '10.244.2.11', `${pod} is served an address of an identity nobody allowed`);
  });
});
