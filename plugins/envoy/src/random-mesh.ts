/**
 * Test support: small random meshes, deterministic from a seed, as manifests (the golden inputs' format).
 * They mix what makes filter chains and references collide in practice: several services selecting the
 * same pods, headless services (matched by pod /32s), ports shared by HTTP and TCP services, target ports
 * differing from service ports, TrafficSplits over services on the same pods, strict and permissive modes.
 */

/** mulberry32: small and reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Port {
  readonly name: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: string;
}

/** Manifests of one random mesh in namespace `ns`; every pod carries an osm-proxy-uuid (one proxy each). */
export function randomMeshYaml(seed: number): string {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const docs: string[] = [];
  const permissive = rnd() < 0.3;
  docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n  labels:\n    openservicemesh.io/monitored-by: osm`);
  docs.push(
    `apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata:\n  name: osm-mesh-config\n  namespace: osm-system\nspec:\n  traffic:\n    enablePermissiveTrafficPolicyMode: ${permissive}\n    enableEgress: ${rnd() < 0.3}`,
  );

  const workloads = 2 + Math.floor(rnd() * 4);
  const pods: { name: string; workload: number; ip: string }[] = [];
  let uuid = 0;
  for (let w = 0; w < workloads; w++) {
    docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: w${w}\n  namespace: ns`);
    const replicas = 1 + Math.floor(rnd() * 2);
    for (let j = 0; j < replicas; j++) {
      uuid++;
      const name = `w${w}-${j}`;
      const ip = `10.244.${w}.${10 + j}`;
      pods.push({ name, workload: w, ip });
      docs.push(
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ns\n  labels:\n    app: w${w}\n    osm-proxy-uuid: 00000000-0000-4000-8000-${uuid.toString().padStart(12, '0')}\nspec:\n  serviceAccountName: w${w}\n  containers:\n    - name: app\n      image: example/w${w}\nstatus:\n  podIP: ${ip}`,
      );
    }
  }

  const services = 2 + Math.floor(rnd() * 6);
  const byWorkload = new Map<number, { name: string; ports: Port[] }[]>();
  const all: { name: string; workload: number; ports: Port[] }[] = [];
  for (let s = 0; s < services; s++) {
    const name = `s${s}`;
    const workload = Math.floor(rnd() * workloads);
    const headless = rnd() < 0.4;
    const ports: Port[] = [];
    for (const port of [80, 7000, 5432]) {
      if (rnd() < 0.5 && ports.length < 2) {
        const protocol = pick(['http', 'http', 'tcp', 'grpc']);
        ports.push({ name: `${protocol}-p${port}`, port, targetPort: rnd() < 0.7 ? port : port + 1, protocol });
      }
    }
    if (ports.length === 0) ports.push({ name: 'http-p80', port: 80, targetPort: 8080, protocol: 'http' });
    const portYaml = ports.map((p) => `    - name: ${p.name}\n      port: ${p.port}\n      targetPort: ${p.targetPort}\n      appProtocol: ${p.protocol}`).join('\n');
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ns\nspec:\n  clusterIP: ${headless ? 'None' : `10.96.0.${10 + s}`}\n  selector:\n    app: w${workload}\n  ports:\n${portYaml}`,
    );
    const members = pods.filter((p) => p.workload === workload);
    const addresses = members.map((p) => `      - ip: ${p.ip}\n        targetRef:\n          kind: Pod\n          name: ${p.name}\n          namespace: ns`).join('\n');
    const epPorts = ports.map((p) => `      - name: ${p.name}\n        port: ${p.targetPort}`).join('\n');
    docs.push(`apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: ${name}\n  namespace: ns\nsubsets:\n  - addresses:\n${addresses}\n    ports:\n${epPorts}`);
    const svc = { name, workload, ports };
    all.push(svc);
    byWorkload.set(workload, [...(byWorkload.get(workload) ?? []), svc]);
  }

  docs.push(`apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata:\n  name: any-path\n  namespace: ns\nspec:\n  matches:\n    - name: all\n      pathRegex: ".*"\n      methods: ["*"]`);
  docs.push(`apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata:\n  name: any-port\n  namespace: ns\nspec:\n  matches:\n    ports: []`);
  let targets = 0;
  for (let src = 0; src < workloads; src++) {
    for (let dst = 0; dst < workloads; dst++) {
      if (src === dst || rnd() < 0.4) continue;
      targets++;
      docs.push(
        `kind: TrafficTarget\napiVersion: access.smi-spec.io/v1alpha3\nmetadata:\n  name: t${targets}\n  namespace: ns\nspec:\n  destination:\n    kind: ServiceAccount\n    name: w${dst}\n    namespace: ns\n  rules:\n    - kind: HTTPRouteGroup\n      name: any-path\n      matches: [all]\n    - kind: TCPRoute\n      name: any-port\n  sources:\n    - kind: ServiceAccount\n      name: w${src}\n      namespace: ns`,
      );
    }
  }

  // A split of one service over others on the same port (often on the same pods, as versions are).
  if (rnd() < 0.6 && all.length >= 3) {
    const apex = pick(all);
    const port = apex.ports[0];
    const backends = all.filter((s) => s !== apex && s.ports.some((p) => p.port === port?.port)).slice(0, 2);
    if (backends.length > 0) {
      const list = backends.map((b) => `    - service: ${b.name}\n      weight: ${1 + Math.floor(rnd() * 90)}`).join('\n');
      docs.push(`apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata:\n  name: split\n  namespace: ns\nspec:\n  service: ${apex.name}\n  backends:\n${list}`);
    }
  }
  return docs.join('\n---\n') + '\n';
}
