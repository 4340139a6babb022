/**
 * Random valid meshes as a fast-check arbitrary, for the cross-adapter load check (random-mesh.test.ts).
 *
 * The arbitrary draws a *plan* — small records of indices, choices and numbers — and `meshManifests` builds
 * the manifests from it deterministically. Every reference in a plan is an index taken modulo what exists
 * (or dropped when nothing fits), so whatever fast-check removes or shrinks while minimising a
 * counterexample, the plan still builds a valid mesh; `randomMesh` then runs the manifests through the
 * model's own validation (parseManifests) and only meshes it accepts are used.
 *
 * What it covers: one or two monitored namespaces; workloads of one or two pods (each pod a proxy) whose
 * service accounts are shared across their pods; services with a cluster IP, without one, and headless,
 * selecting the same pods as other services; multi-port services whose ports mix http, tcp, grpc,
 * tcp-server-first and https (by appProtocol or by port-name prefix), with target ports equal to the port,
 * different from it, or named after a container port; TrafficSplits, several per apex, backends shared
 * between splits, weights including 0, optionally limited to HTTPRouteGroups; TrafficTargets with
 * HTTPRouteGroups (path regexes, methods, headers, a subset of matches) and TCPRoutes (some ports or all);
 * Egress by host and by CIDR on http/https/tcp/tcp-server-first ports, with route and
 * UpstreamTrafficSetting matches; IngressBackends (http/https, TLS settings, Service, IPRange and principal
 * sources); Retry policies; UpstreamTrafficSettings (connection settings, TCP/HTTP local rate limits,
 * per-route limits); MeshConfig with permissive mode and global egress on or off.
 */
import fc from 'fast-check';
import { parseManifests } from '@weft/core';
import * as testing from '@weft/core/testing';

type AppProto = 'http' | 'tcp' | 'grpc' | 'tcp-server-first' | 'https';

interface PortPlan {
  readonly port: number;
  readonly proto: AppProto;
  /** appProtocol field, or the protocol as the port name's prefix (OSM's rule; https has no prefix). */
  readonly byField: boolean;
  /** same: targetPort = port; offset: a different number; named: a container port's name. */
  readonly target: 'same' | 'offset' | 'named';
}

interface ServicePlan {
  readonly workload: number;
  readonly address: 'cluster' | 'none' | 'headless';
  readonly ports: readonly PortPlan[];
}

interface WorkloadPlan {
  readonly ns: number;
  readonly replicas: number;
}

interface SplitPlan {
  readonly apex: number;
  readonly backends: readonly { readonly service: number; readonly weight: number }[];
  readonly group: number | null;
}

interface RouteGroupPlan {
  readonly ns: number;
  readonly matches: readonly { readonly path: string | null; readonly methods: readonly string[]; readonly header: boolean }[];
}

interface TargetPlan {
  readonly destination: number;
  readonly sources: readonly number[];
  readonly httpGroup: { readonly group: number; readonly matches: readonly number[] } | null;
  readonly tcpRoute: number | null;
}

interface EgressPlan {
  readonly source: number;
  readonly hosts: readonly string[];
  readonly cidrs: readonly string[];
  readonly ports: readonly { readonly number: number; readonly protocol: string }[];
  readonly group: number | null;
  readonly upstreamSetting: boolean;
}

interface IngressPlan {
  readonly service: number;
  readonly backends: readonly { readonly port: number; readonly https: boolean; readonly tls: boolean }[];
  readonly sources: readonly ('service' | 'range' | 'principal')[];
}

interface RetryPlan {
  readonly source: number;
  readonly destinations: readonly number[];
  readonly retryOn: readonly string[];
  readonly perTryTimeout: string | null;
  readonly numRetries: number | null;
  readonly backoff: string | null;
}

interface UpstreamPlan {
  readonly service: number;
  readonly tcp: boolean;
  readonly http: boolean;
  readonly tcpLimit: boolean;
  readonly httpLimit: boolean;
  readonly routes: readonly string[];
}

/** One random mesh, as drawn; `meshManifests` turns it into manifests. */
export interface MeshPlan {
  readonly namespaces: number;
  readonly permissive: boolean;
  readonly enableEgress: boolean;
  readonly workloads: readonly WorkloadPlan[];
  readonly services: readonly ServicePlan[];
  readonly splits: readonly SplitPlan[];
  readonly groups: readonly RouteGroupPlan[];
  readonly tcpRoutes: readonly (readonly number[])[];
  readonly targets: readonly TargetPlan[];
  readonly egresses: readonly EgressPlan[];
  readonly ingresses: readonly IngressPlan[];
  readonly retries: readonly RetryPlan[];
  readonly upstreams: readonly UpstreamPlan[];
}

/** Few distinct ports, so that services, splits, routes and egress often meet on the same one. */
const PORTS = [80, 443, 5432, 7000, 8080, 9090, 14001] as const;

const portPlan: fc.Arbitrary<PortPlan> = fc.record({
  port: fc.constantFrom(...PORTS),
  proto: fc.constantFrom<AppProto>('http', 'http', 'tcp', 'grpc', 'tcp-server-first', 'https'),
  byField: fc.boolean(),
  target: fc.constantFrom<PortPlan['target']>('same', 'same', 'offset', 'named'),
});

const RETRY_ON = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'refused-stream', 'unavailable', 'cancelled'] as const;

/** The arbitrary of mesh plans; sizes stay small so a run checks many meshes. */
export const meshPlan: fc.Arbitrary<MeshPlan> = fc.record({
  namespaces: fc.integer({ min: 1, max: 2 }),
  permissive: fc.boolean(),
  enableEgress: fc.boolean(),
  workloads: fc.array(fc.record({ ns: fc.nat(1), replicas: fc.integer({ min: 1, max: 2 }) }), { minLength: 1, maxLength: 5 }),
  services: fc.array(
    fc.record({
      workload: fc.nat(9),
      address: fc.constantFrom<ServicePlan['address']>('cluster', 'cluster', 'none', 'headless'),
      ports: fc.uniqueArray(portPlan, { minLength: 1, maxLength: 3, selector: (p) => p.port }),
    }),
    { minLength: 1, maxLength: 7 },
  ),
  splits: fc.array(
    fc.record({
      apex: fc.nat(9),
      backends: fc.array(fc.record({ service: fc.nat(9), weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })) }), { minLength: 1, maxLength: 3 }),
      group: fc.option(fc.nat(5), { freq: 4 }),
    }),
    { maxLength: 4 },
  ),
  groups: fc.array(
    fc.record({
      ns: fc.nat(1),
      matches: fc.array(
        fc.record({
          path: fc.option(fc.constantFrom('.*', '/', '/books/.*', '/buy-a-book/new', '/api/v[0-9]+/.*')),
          methods: fc.subarray(['GET', 'POST', 'PUT', '*']),
          header: fc.boolean(),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
    { maxLength: 3 },
  ),
  tcpRoutes: fc.array(fc.subarray([...PORTS]), { maxLength: 2 }),
  targets: fc.array(
    fc.record({
      destination: fc.nat(9),
      sources: fc.array(fc.nat(9), { minLength: 1, maxLength: 3 }),
      httpGroup: fc.option(fc.record({ group: fc.nat(5), matches: fc.array(fc.nat(3), { maxLength: 2 }) })),
      tcpRoute: fc.option(fc.nat(3)),
    }),
    { maxLength: 8 },
  ),
  egresses: fc.array(
    fc.record({
      source: fc.nat(9),
      hosts: fc.subarray(['httpbin.org', 'api.github.com', 'example.com']),
      cidrs: fc.subarray(['203.0.113.0/24', '198.51.100.7/32', '10.244.0.0/16']),
      ports: fc.uniqueArray(
        fc.record({ number: fc.constantFrom(80, 443, 5432, 8080), protocol: fc.constantFrom('http', 'https', 'tcp', 'tcp-server-first') }),
        { minLength: 1, maxLength: 2, selector: (p) => p.number },
      ),
      group: fc.option(fc.nat(5), { freq: 3 }),
      upstreamSetting: fc.boolean(),
    }),
    { maxLength: 3 },
  ),
  ingresses: fc.array(
    fc.record({
      service: fc.nat(9),
      backends: fc.uniqueArray(fc.record({ port: fc.constantFrom(...PORTS), https: fc.boolean(), tls: fc.boolean() }), {
        minLength: 1,
        maxLength: 2,
        selector: (b) => b.port,
      }),
      sources: fc.array(fc.constantFrom<'service' | 'range' | 'principal'>('service', 'range', 'principal'), { minLength: 1, maxLength: 3 }),
    }),
    { maxLength: 2 },
  ),
  retries: fc.array(
    fc.record({
      source: fc.nat(9),
      destinations: fc.array(fc.nat(9), { minLength: 1, maxLength: 2 }),
      retryOn: fc.subarray([...RETRY_ON], { minLength: 1 }),
      perTryTimeout: fc.option(fc.constantFrom('1s', '250ms', '2m')),
      numRetries: fc.option(fc.integer({ min: 0, max: 10 })),
      backoff: fc.option(fc.constantFrom('25ms', '1s')),
    }),
    { maxLength: 3 },
  ),
  upstreams: fc.array(
    fc.record({
      service: fc.nat(9),
      tcp: fc.boolean(),
      http: fc.boolean(),
      tcpLimit: fc.boolean(),
      httpLimit: fc.boolean(),
      routes: fc.subarray(['/books-bought', '/buy-a-book/new', '/']),
    }),
    { maxLength: 3 },
  ),
});

type Doc = Record<string, unknown>;

/** The `i`-th of a list, or undefined for an empty list: plans refer by index modulo the count. */
const nth = <T>(list: readonly T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);
const ref = (name: string, namespace: string): Doc => ({ kind: 'ServiceAccount', name, namespace });

interface BuiltService {
  readonly name: string;
  readonly ns: string;
  readonly workload: number;
  readonly ports: readonly PortPlan[];
}

/** The manifests of a plan, as plain objects in the order a folder of manifests would give them. */
export function meshManifests(plan: MeshPlan): Doc[] {
  const docs: Doc[] = [];
  const nsName = (i: number): string => `ns${i % plan.namespaces}`;
  for (let i = 0; i < plan.namespaces; i++) {
    docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${i}`, labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
  }
  docs.push({
    apiVersion: 'config.openservicemesh.io/v1alpha2',
    kind: 'MeshConfig',
    metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
    spec: { traffic: { enablePermissiveTrafficPolicyMode: plan.permissive, enableEgress: plan.enableEgress } },
  });

  const workloads = plan.workloads.map((w, i) => ({ name: `w${i}`, ns: nsName(w.ns), replicas: w.replicas }));
  const services: BuiltService[] = plan.services.map((s, i) => {
    const w = s.workload % workloads.length;
    return { name: `s${i}`, ns: workloads[w]!.ns, workload: w, ports: s.ports };
  });
  const targetNumber = (p: PortPlan): number => (p.target === 'same' ? p.port : p.port + 1000);
  // A named target port must be a container port of every selected pod: each pod declares the named
  // target ports of the services selecting its workload (a name per number, so services agree).
  const containerPorts = (w: number): Doc[] => {
    const numbers = new Set<number>();
    for (const s of services) if (s.workload === w) for (const p of s.ports) if (p.target === 'named') numbers.add(targetNumber(p));
    return [...numbers].sort((a, b) => a - b).map((n) => ({ name: `tp-${n}`, containerPort: n }));
  };

  let uuid = 0;
  const podIps = new Map<number, { name: string; ip: string }[]>();
  workloads.forEach((w, i) => {
    docs.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: w.name, namespace: w.ns } });
    const ports = containerPorts(i);
    const pods: { name: string; ip: string }[] = [];
    for (let j = 0; j < w.replicas; j++) {
      uuid++;
      const pod = { name: `${w.name}-${j}`, ip: `10.244.${i}.${10 + j}` };
      pods.push(pod);
      docs.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod.name, namespace: w.ns, labels: { app: w.name, 'osm-proxy-uuid': `00000000-0000-4000-8000-${uuid.toString().padStart(12, '0')}` } },
        spec: { serviceAccountName: w.name, containers: [{ name: 'app', image: `example/${w.name}`, ...(ports.length > 0 ? { ports } : {}) }] },
        status: { podIP: pod.ip },
      });
    }
    podIps.set(i, pods);
  });

  const portName = (p: PortPlan): string => (p.byField || p.proto === 'https' ? `port-${p.port}` : `${p.proto}-p${p.port}`);
  services.forEach((s, i) => {
    const address = plan.services[i]!.address;
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.ns },
      spec: {
        ...(address === 'cluster' ? { clusterIP: `10.96.0.${10 + i}` } : address === 'headless' ? { clusterIP: 'None' } : {}),
        selector: { app: workloads[s.workload]!.name },
        ports: s.ports.map((p) => ({
          name: portName(p),
          port: p.port,
          targetPort: p.target === 'named' ? `tp-${targetNumber(p)}` : targetNumber(p),
          ...(p.byField || p.proto === 'https' ? { appProtocol: p.proto } : {}),
        })),
      },
    });
    docs.push({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: s.name, namespace: s.ns },
      subsets: [
        {
          addresses: (podIps.get(s.workload) ?? []).map((p) => ({ ip: p.ip, targetRef: { kind: 'Pod', name: p.name, namespace: s.ns } })),
          ports: s.ports.map((p) => ({ name: portName(p), port: targetNumber(p) })),
        },
      ],
    });
  });

  const groups = plan.groups.map((g, i) => ({ name: `routes-${i}`, ns: nsName(g.ns), matches: g.matches }));
  for (const g of groups) {
    docs.push({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: g.name, namespace: g.ns },
      spec: {
        matches: g.matches.map((m, j) => ({
          name: `m${j}`,
          ...(m.path === null ? {} : { pathRegex: m.path }),
          ...(m.methods.length === 0 ? {} : { methods: m.methods }),
          ...(m.header ? { headers: [{ 'user-agent': '.*-http-client/.*' }] } : {}),
        })),
      },
    });
  }
  const groupsIn = (ns: string): typeof groups => groups.filter((g) => g.ns === ns);

  // TCPRoutes exist in every namespace (a TrafficTarget names one of its own namespace).
  const tcpRoutes: { name: string; ns: string }[] = [];
  plan.tcpRoutes.forEach((ports, i) => {
    for (let n = 0; n < plan.namespaces; n++) {
      tcpRoutes.push({ name: `tcp-${i}`, ns: `ns${n}` });
      docs.push({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', metadata: { name: `tcp-${i}`, namespace: `ns${n}` }, spec: { matches: { ports: [...ports] } } });
    }
  });

  plan.targets.forEach((t, i) => {
    const dst = workloads[t.destination % workloads.length]!;
    const rules: Doc[] = [];
    const group = t.httpGroup === null ? undefined : nth(groupsIn(dst.ns), t.httpGroup.group);
    if (t.httpGroup !== null && group !== undefined) {
      const matches = [...new Set(t.httpGroup.matches.map((m) => `m${m % group.matches.length}`))];
      rules.push({ kind: 'HTTPRouteGroup', name: group.name, ...(matches.length > 0 ? { matches } : {}) });
    }
    const tcp = t.tcpRoute === null ? undefined : nth(tcpRoutes.filter((r) => r.ns === dst.ns), t.tcpRoute);
    if (tcp !== undefined) rules.push({ kind: 'TCPRoute', name: tcp.name });
    docs.push({
      kind: 'TrafficTarget',
      apiVersion: 'access.smi-spec.io/v1alpha3',
      metadata: { name: `t${i}`, namespace: dst.ns },
      spec: {
        destination: ref(dst.name, dst.ns),
        rules,
        sources: [...new Set(t.sources.map((s) => s % workloads.length))].map((s) => ref(workloads[s]!.name, workloads[s]!.ns)),
      },
    });
  });

  plan.splits.forEach((sp, i) => {
    const apex = services[sp.apex % services.length]!;
    const sameNs = services.filter((s) => s.ns === apex.ns);
    const backends = new Map<string, number>();
    for (const b of sp.backends) {
      const svc = nth(sameNs, b.service);
      if (svc !== undefined && !backends.has(svc.name)) backends.set(svc.name, b.weight);
    }
    const group = sp.group === null ? undefined : nth(groupsIn(apex.ns), sp.group);
    docs.push({
      apiVersion: 'split.smi-spec.io/v1alpha2',
      kind: 'TrafficSplit',
      metadata: { name: `split-${i}`, namespace: apex.ns },
      spec: {
        service: apex.name,
        backends: [...backends].map(([service, weight]) => ({ service, weight })),
        ...(group === undefined ? {} : { matches: [{ kind: 'HTTPRouteGroup', name: group.name }] }),
      },
    });
  });

  plan.egresses.forEach((e, i) => {
    const src = workloads[e.source % workloads.length]!;
    const group = e.group === null ? undefined : nth(groupsIn(src.ns), e.group);
    const hosts = e.cidrs.length === 0 && e.hosts.length === 0 ? ['httpbin.org'] : e.hosts;
    const matches: Doc[] = [];
    if (group !== undefined) matches.push({ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: group.name });
    if (e.upstreamSetting) matches.push({ apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: `egress-${i}` });
    docs.push({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: `egress-${i}`, namespace: src.ns },
      spec: {
        sources: [ref(src.name, src.ns)],
        ...(hosts.length > 0 ? { hosts } : {}),
        ...(e.cidrs.length > 0 ? { ipAddresses: e.cidrs } : {}),
        ports: e.ports.map((p) => ({ number: p.number, protocol: p.protocol })),
        ...(matches.length > 0 ? { matches } : {}),
      },
    });
    if (e.upstreamSetting) {
      docs.push({
        apiVersion: 'policy.openservicemesh.io/v1alpha1',
        kind: 'UpstreamTrafficSetting',
        metadata: { name: `egress-${i}`, namespace: src.ns },
        spec: { host: hosts[0] ?? e.cidrs[0], connectionSettings: { tcp: { maxConnections: 10, connectTimeout: '2s' } } },
      });
    }
  });

  plan.ingresses.forEach((g, i) => {
    const svc = services[g.service % services.length]!;
    const gateway = services[(g.service + 1) % services.length]!;
    docs.push({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'IngressBackend',
      metadata: { name: `ingress-${i}`, namespace: svc.ns },
      spec: {
        backends: g.backends.map((b) => ({
          name: svc.name,
          port: { number: b.port, protocol: b.https ? 'https' : 'http' },
          ...(b.tls ? { tls: { skipClientCertValidation: !b.https, sniHosts: [`${svc.name}.${svc.ns}.svc.cluster.local`] } } : {}),
        })),
        sources: [...new Set(g.sources)].map((s) =>
          s === 'service'
            ? { kind: 'Service', name: gateway.name, namespace: gateway.ns }
            : s === 'range'
              ? { kind: 'IPRange', name: '192.0.2.0/24' }
              : { kind: 'AuthenticatedPrincipal', name: `${gateway.name}.${gateway.ns}.cluster.local` },
        ),
      },
    });
  });

  plan.retries.forEach((r, i) => {
    const src = workloads[r.source % workloads.length]!;
    const destinations = [...new Set(r.destinations.map((d) => d % services.length))].map((d) => ({ kind: 'Service', name: services[d]!.name, namespace: services[d]!.ns }));
    docs.push({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Retry',
      metadata: { name: `retry-${i}`, namespace: src.ns },
      spec: {
        source: ref(src.name, src.ns),
        destinations,
        retryPolicy: {
          retryOn: r.retryOn.join(','),
          ...(r.perTryTimeout === null ? {} : { perTryTimeout: r.perTryTimeout }),
          ...(r.numRetries === null ? {} : { numRetries: r.numRetries }),
          ...(r.backoff === null ? {} : { retryBackoffBaseInterval: r.backoff }),
        },
      },
    });
  });

  const limited = new Set<string>();
  for (const u of plan.upstreams) {
    const svc = services[u.service % services.length]!;
    // One setting per host: two would leave which applies to the order the catalog lists them.
    if (limited.has(`${svc.ns}/${svc.name}`)) continue;
    limited.add(`${svc.ns}/${svc.name}`);
    docs.push({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'UpstreamTrafficSetting',
      metadata: { name: `uts-${svc.name}`, namespace: svc.ns },
      spec: {
        host: `${svc.name}.${svc.ns}.svc.cluster.local`,
        ...(u.tcp || u.http
          ? {
              connectionSettings: {
                ...(u.tcp ? { tcp: { maxConnections: 100, connectTimeout: '3s' } } : {}),
                ...(u.http ? { http: { maxRequests: 200, maxPendingRequests: 50, maxRetries: 5, maxRequestsPerConnection: 10 } } : {}),
              },
            }
          : {}),
        ...(u.tcpLimit || u.httpLimit
          ? {
              rateLimit: {
                local: {
                  ...(u.tcpLimit ? { tcp: { connections: 20, unit: 'second', burst: 5 } } : {}),
                  ...(u.httpLimit
                    ? { http: { requests: 100, unit: 'minute', burst: 10, responseStatusCode: 429, responseHeadersToAdd: [{ name: 'x-rate-limited', value: 'true' }] } }
                    : {}),
                },
              },
            }
          : {}),
        ...(u.routes.length > 0 ? { httpRoutes: u.routes.map((path) => ({ path, rateLimit: { local: { requests: 10, unit: 'second' } } })) } : {}),
      },
    });
  }
  return docs;
}

/** A mesh the model accepts: its plan, and its manifests as one JSON file (the fast path of the parser). */
export interface RandomMesh {
  readonly plan: MeshPlan;
  readonly file: testing.ManifestFile;
}

/** Builds a plan's manifests and validates them; the model's errors, if any, are thrown. */
export function buildMesh(plan: MeshPlan): RandomMesh {
  const file = { name: 'random-mesh.json', text: JSON.stringify(meshManifests(plan)) };
  const parsed = parseManifests(file.text, file.name);
  if (parsed.errors.length > 0) throw new Error(`the generator made an invalid mesh:\n${parsed.errors.map((e) => e.message).join('\n')}`);
  return { plan, file };
}

/** Whether the model accepts a plan's manifests: every document valid, none ignored. */
export function isValidPlan(plan: MeshPlan): boolean {
  const parsed = parseManifests(JSON.stringify(meshManifests(plan)), 'random-mesh.json');
  return parsed.errors.length === 0 && parsed.ignored.length === 0;
}

/** Random meshes the model accepts (the filter is a guard: plans are built to be valid). */
export const randomMesh: fc.Arbitrary<RandomMesh> = meshPlan.filter(isValidPlan).map(buildMesh);

/** A mesh as multi-document YAML, the golden cases' input format (for a counterexample worth keeping). */
export function meshYaml(plan: MeshPlan): string {
  return meshManifests(plan)
    .map((d) => testing.goldenYaml(d))
    .join('---\n');
}
