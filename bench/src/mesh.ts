/**
 * A generated mesh for the push-latency benchmark: services with pods (each carrying an `osm-proxy-uuid`),
 * endpoints, service accounts and SMI access policy so that every proxy has a realistic outbound set (each
 * service calls `calls` others). Everything is built as Kubernetes-style manifests and normalized by the
 * model's own validator, so the events are exactly what a source would append. Deterministic from the seed.
 */
import { normalizeManifest, type EventInput, type ProxyIdentity } from '@weft/core';

export interface MeshOptions {
  /** Services in the mesh. Default 1,000. */
  readonly services?: number;
  /** Pods (endpoints) per service; raised to cover `proxies` when needed. Default 3. */
  readonly endpointsPerService?: number;
  /** Simulated proxies that will connect; the mesh gets at least that many pods. Default 1,000. */
  readonly proxies?: number;
  /** Services each service calls (SMI TrafficTarget sources). Default 5. */
  readonly calls?: number;
  /** Namespaces the services are spread over. Default 10. */
  readonly namespaces?: number;
  readonly seed?: number;
}

export interface BenchProxy extends ProxyIdentity {
  /** Node id the simulated proxy sends: CN-shaped, so the identity needs no node metadata. */
  readonly nodeId: string;
  /** "namespace/name" of the service the proxy's pod belongs to. */
  readonly service: string;
  readonly pod: string;
}

export interface GeneratedMesh {
  readonly options: Required<MeshOptions>;
  /** The initial state as one batch (a source's initial list). */
  readonly initial: readonly EventInput[];
  /** Proxies that connect, spread over services (pod 0 of every service first, then pod 1, ...). */
  readonly proxies: readonly BenchProxy[];
  /** Service keys in generation order. */
  readonly services: readonly string[];
  /** Caller service keys per destination service key. */
  readonly callers: ReadonlyMap<string, readonly string[]>;
  readonly podsPerService: number;
}

export const TRUST_DOMAIN = 'cluster.local';
export const SOURCE = 'bench';
const HTTP_PORT = 8080;

/** mulberry32: small, fast and good enough to pick call graphs reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function check(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`mesh option ${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

export function resolveMeshOptions(o: MeshOptions = {}): Required<MeshOptions> {
  const services = check('services', o.services ?? 1000, 2);
  const calls = check('calls', o.calls ?? 5, 0);
  if (calls >= services) throw new RangeError(`mesh option calls (${calls}) must be below services (${services})`);
  return {
    services,
    endpointsPerService: check('endpointsPerService', o.endpointsPerService ?? 3, 1),
    proxies: check('proxies', o.proxies ?? 1000, 1),
    calls,
    namespaces: check('namespaces', o.namespaces ?? 10, 1),
    seed: check('seed', o.seed ?? 1, 0),
  };
}

/** Turns manifests into upsert events through the model's validator (fails loudly: the generator is wrong). */
export function toEvents(manifests: readonly object[]): EventInput[] {
  const out: EventInput[] = [];
  manifests.forEach((m, i) => {
    const r = normalizeManifest(m, { file: 'generated', document: i });
    if (r.errors.length > 0) throw new Error(`generated manifest ${i} is invalid: ${r.errors.map((e) => e.message).join('; ')}`);
    for (const res of r.resources) out.push({ source: SOURCE, op: 'upsert', kind: res.kind, key: res.key, body: res.body });
  });
  return out;
}

export function uuidOf(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

function ipOf(n: number, base = 10): string {
  return `${base}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

interface ServiceSpec {
  readonly ns: string;
  readonly name: string;
  /** Outbound listeners match on it, so an endpoint move changes EDS only, as in Kubernetes. */
  readonly clusterIP?: string;
}

function serviceSpec(i: number, namespaces: number): ServiceSpec {
  return { ns: `ns-${i % namespaces}`, name: `svc-${i}`, clusterIP: ipOf(i, 96) };
}

export function podName(svc: string, j: number): string {
  return `${svc}-${j}`;
}

/** Manifests of one service: account, service, pods and endpoints. `podBase` numbers pod uuids and IPs. */
function serviceManifests(s: ServiceSpec, pods: number, podBase: number, epochOf: (j: number) => number = () => 0): object[] {
  const out: object[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: s.name, namespace: s.ns } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.ns },
      spec: { ...(s.clusterIP === undefined ? {} : { clusterIP: s.clusterIP }), selector: { app: s.name }, ports: [{ name: 'http', port: HTTP_PORT, targetPort: HTTP_PORT, appProtocol: 'http' }] },
    },
  ];
  const addresses: object[] = [];
  for (let j = 0; j < pods; j++) {
    const n = podBase + j;
    const name = podName(s.name, j);
    const ip = ipOf(n, 10 + epochOf(j));
    out.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: s.ns, labels: { app: s.name, 'osm-proxy-uuid': uuidOf(n) } },
      spec: { serviceAccountName: s.name, containers: [{ name: 'app', image: 'bench/app', ports: [{ containerPort: HTTP_PORT }] }] },
      status: { podIP: ip },
    });
    addresses.push({ ip, targetRef: { kind: 'Pod', name, namespace: s.ns } });
  }
  out.push(endpointsManifest(s, addresses));
  return out;
}

function endpointsManifest(s: ServiceSpec, addresses: readonly object[]): object {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: s.name, namespace: s.ns },
    subsets: [{ addresses, ports: [{ name: 'http', port: HTTP_PORT, protocol: 'TCP', appProtocol: 'http' }] }],
  };
}

function routeGroupManifest(s: ServiceSpec, revision: number): object {
  const matches: object[] = [{ name: 'all', pathRegex: '.*', methods: ['*'] }];
  // A policy revision narrows nothing that is allowed today; it adds a named match the target uses.
  if (revision > 0) matches.push({ name: `v${revision}`, pathRegex: `/v${revision}/.*`, methods: ['GET', 'POST'] });
  return { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: `${s.name}-routes`, namespace: s.ns }, spec: { matches } };
}

function trafficTargetManifest(dest: ServiceSpec, sources: readonly ServiceSpec[]): object {
  return {
    apiVersion: 'access.smi-spec.io/v1alpha3',
    kind: 'TrafficTarget',
    metadata: { name: `${dest.name}-access`, namespace: dest.ns },
    spec: {
      destination: { kind: 'ServiceAccount', name: dest.name, namespace: dest.ns },
      rules: [{ kind: 'HTTPRouteGroup', name: `${dest.name}-routes` }],
      sources: sources.map((s) => ({ kind: 'ServiceAccount', name: s.name, namespace: s.ns })),
    },
  };
}

function keyOfSpec(s: ServiceSpec): string {
  return `${s.ns}/${s.name}`;
}

function specOfKey(key: string, index = -1): ServiceSpec {
  const [ns, name] = key.split('/') as [string, string];
  return index < 0 ? { ns, name } : { ns, name, clusterIP: ipOf(index, 96) };
}

export function generateMesh(options: MeshOptions = {}): GeneratedMesh {
  const o = resolveMeshOptions(options);
  const rand = prng(o.seed);
  const podsPerService = Math.max(o.endpointsPerService, Math.ceil(o.proxies / o.services));
  const specs = Array.from({ length: o.services }, (_, i) => serviceSpec(i, o.namespaces));
  const manifests: object[] = [];
  for (let n = 0; n < o.namespaces; n++) {
    manifests.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
  }
  manifests.push({
    apiVersion: 'config.openservicemesh.io/v1alpha2',
    kind: 'MeshConfig',
    metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
    spec: { traffic: { enablePermissiveTrafficPolicyMode: false, enableEgress: false } },
  });
  specs.forEach((s, i) => manifests.push(...serviceManifests(s, podsPerService, i * podsPerService)));

  // Call graph: each service calls `calls` distinct others, chosen by the seeded generator.
  const callers = new Map<string, string[]>(specs.map((s) => [keyOfSpec(s), []]));
  specs.forEach((s, i) => {
    const picked = new Set<number>();
    while (picked.size < o.calls) {
      const d = Math.floor(rand() * o.services);
      if (d !== i) picked.add(d);
    }
    for (const d of [...picked].sort((a, b) => a - b)) callers.get(keyOfSpec(specs[d]!))!.push(keyOfSpec(s));
  });
  for (const s of specs) {
    const from = callers.get(keyOfSpec(s))!;
    if (from.length === 0) continue;
    manifests.push(routeGroupManifest(s, 0), trafficTargetManifest(s, from.map(specOfKey)));
  }

  const proxies: BenchProxy[] = [];
  for (let j = 0; j < podsPerService && proxies.length < o.proxies; j++) {
    for (let i = 0; i < o.services && proxies.length < o.proxies; i++) {
      const s = specs[i]!;
      const uuid = uuidOf(i * podsPerService + j);
      proxies.push({
        uuid,
        kind: 'envoy',
        serviceAccount: s.name,
        namespace: s.ns,
        trustDomain: TRUST_DOMAIN,
        nodeId: `${uuid}.envoy.${s.name}.${s.ns}.${TRUST_DOMAIN}`,
        service: keyOfSpec(s),
        pod: podName(s.name, j),
      });
    }
  }
  return { options: o, initial: toEvents(manifests), proxies, services: specs.map(keyOfSpec), callers, podsPerService };
}

/** One step of a scenario: a batch of events, or a certificate rotation (not a log event). */
export type Step =
  | { readonly kind: 'events'; readonly events: readonly EventInput[] }
  | { readonly kind: 'rotate'; readonly namespace: string; readonly serviceAccount: string; readonly generation: number };

export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  readonly steps: readonly Step[];
  /**
   * Per step, the proxies (node ids) whose configuration it must change, computed from the generated mesh
   * alone (who calls the changed service, whose service it is), never from Weft's engine. The harness grades
   * every system against it and checks Weft's dump agrees.
   */
  readonly expected: readonly ReadonlySet<string>[];
  /**
   * `repeat`: single changes, driven one at a time by the harness (step 0 is the cold change, the rest warm,
   * each waiting for its affected ACKs and a quiet gap). `burst`: the server applies every step itself,
   * `intervalMs` apart.
   */
  readonly drive: 'repeat' | 'burst';
  /** Pause between steps of a burst, ms (the burst spreads 100 changes over one second). */
  readonly intervalMs: number;
  /** For the 1% policy change: proxies (node ids) expected to be affected; responses to others are counted. */
  readonly expectedNodes?: ReadonlySet<string>;
}

export const SCENARIOS = ['endpoint', 'service-added', 'policy', 'burst', 'rotation'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioOptions {
  /** Warm changes after the first (cold) one in each single-change scenario. Default 100. */
  readonly repeats?: number;
}

/** The most-called service: the endpoint change that reaches the most proxies. */
function mostCalled(mesh: GeneratedMesh, skip: ReadonlySet<string> = new Set()): string {
  let best = mesh.services[0]!;
  let n = -1;
  for (const s of mesh.services) {
    const c = mesh.callers.get(s)?.length ?? 0;
    if (c > n && !skip.has(s)) {
      best = s;
      n = c;
    }
  }
  return best;
}

/** An endpoint moved: the last pod of a service got a new IP (a restart); only its Endpoints and Pod change. */
function endpointMove(mesh: GeneratedMesh, svcKey: string, epoch: number): EventInput[] {
  const i = mesh.services.indexOf(svcKey);
  const s = specOfKey(svcKey, i);
  const last = mesh.podsPerService - 1;
  const all = serviceManifests(s, mesh.podsPerService, i * mesh.podsPerService, (j) => (j === last ? epoch : 0));
  const endpoints = all[all.length - 1]!;
  // One event: the Endpoints object (the Pod's own status is left alone, so the change stays a single key).
  return toEvents([endpoints]);
}

/** Proxies (node ids) whose pod belongs to one of `services`. */
export function proxiesOf(mesh: GeneratedMesh, services: Iterable<string>): Set<string> {
  const set = new Set(services);
  return new Set(mesh.proxies.filter((p) => set.has(p.service)).map((p) => p.nodeId));
}

/** Proxies that call `svc`: an endpoint move or a new service reaches exactly these (their outbound side). */
export function callersOf(mesh: GeneratedMesh, svc: string): Set<string> {
  return proxiesOf(mesh, mesh.callers.get(svc) ?? []);
}

/**
 * The scenarios, in the order a run applies them. Each is a pure function of the mesh, so the server child,
 * the dump for the floor and go-control-plane, and the harness agree on what changes.
 *
 * Single-change scenarios have 1 + `repeats` steps, each a real change of the same kind: the endpoint
 * alternates between two new addresses, the policy revision counts up, the added service is removed and
 * added again (odd steps are the removal), the certificate generation counts up.
 */
export function buildScenarios(mesh: GeneratedMesh, names: readonly ScenarioName[] = SCENARIOS, so: ScenarioOptions = {}): Scenario[] {
  const out: Scenario[] = [];
  const o = mesh.options;
  const repeats = so.repeats ?? 100;
  if (!Number.isInteger(repeats) || repeats < 0) throw new RangeError(`repeats must be an integer >= 0, got ${repeats}`);
  const n = 1 + repeats;
  const times = <T>(f: (k: number) => T): T[] => Array.from({ length: n }, (_, k) => f(k));
  for (const name of names) {
    switch (name) {
      case 'endpoint': {
        const svc = mostCalled(mesh);
        const expected = callersOf(mesh, svc);
        out.push({
          name,
          description: `one endpoint of ${svc} moves (${mesh.callers.get(svc)?.length ?? 0} calling services), ${n} times`,
          steps: times((k) => ({ kind: 'events', events: endpointMove(mesh, svc, 1 + (k % 2)) })),
          expected: times(() => expected),
          drive: 'repeat',
          intervalMs: 0,
        });
        break;
      }
      case 'service-added': {
        const s: ServiceSpec = { ns: 'ns-0', name: 'svc-new', clusterIP: ipOf(o.services, 96) };
        const from = mesh.services.slice(0, Math.max(1, o.calls));
        const added = toEvents([...serviceManifests(s, o.endpointsPerService, o.services * mesh.podsPerService + 1), routeGroupManifest(s, 0), trafficTargetManifest(s, from.map((k) => specOfKey(k)))]);
        const removed: EventInput[] = added.map((e): EventInput => ({ source: e.source, op: 'delete', kind: e.kind, key: e.key })).reverse();
        const expected = proxiesOf(mesh, from);
        out.push({
          name,
          description: `service ${keyOfSpec(s)} added with ${o.endpointsPerService} pods, callable by ${from.length} services (then removed and added again: ${n} changes)`,
          steps: times((k) => ({ kind: 'events', events: k % 2 === 0 ? added : removed })),
          expected: times(() => expected),
          drive: 'repeat',
          intervalMs: 0,
        });
        break;
      }
      case 'policy': {
        // HTTPRouteGroups feed only the destination's inbound policy: editing those of 1% of the services
        // changes the configuration of the proxies of those services and of nobody else.
        const count = Math.max(1, Math.round(o.services / 100));
        const targets = mesh.services.filter((s) => (mesh.callers.get(s)?.length ?? 0) > 0).slice(0, count);
        const expected = proxiesOf(mesh, targets);
        out.push({
          name,
          description: `route groups of ${targets.length} services (${expected.size} of ${mesh.proxies.length} proxies) get a new match, ${n} times`,
          steps: times((k) => ({ kind: 'events', events: toEvents(targets.map((t) => routeGroupManifest(specOfKey(t), k + 1))) })),
          expected: times(() => expected),
          drive: 'repeat',
          intervalMs: 0,
          expectedNodes: expected,
        });
        break;
      }
      case 'burst': {
        const count = Math.min(100, mesh.services.length);
        const steps: Step[] = [];
        const expected: Set<string>[] = [];
        for (let k = 0; k < count; k++) {
          const svc = mesh.services[(k * 7919) % mesh.services.length]!;
          steps.push({ kind: 'events', events: endpointMove(mesh, svc, 3 + (k % 50)) });
          expected.push(callersOf(mesh, svc));
        }
        out.push({ name, description: `${count} endpoint changes on ${count} services within one second`, steps, expected, drive: 'burst', intervalMs: 1000 / count });
        break;
      }
      case 'rotation': {
        const key = mostCalled(mesh);
        const svc = specOfKey(key);
        // The identity's own certificate: only its own proxies hold it.
        const expected = proxiesOf(mesh, [key]);
        out.push({
          name,
          description: `certificate of identity ${svc.ns}/${svc.name} rotated, ${n} times`,
          steps: times((k) => ({ kind: 'rotate', namespace: svc.ns, serviceAccount: svc.name, generation: k + 1 })),
          expected: times(() => expected),
          drive: 'repeat',
          intervalMs: 0,
        });
        break;
      }
    }
  }
  return out;
}

export function parseScenarios(list: string): ScenarioName[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!(SCENARIOS as readonly string[]).includes(n)) throw new RangeError(`unknown scenario "${n}"; choose from ${SCENARIOS.join(', ')}`);
  }
  return names as ScenarioName[];
}
