/**
 * The pure half of the injector: whether a pod gets a sidecar, and what the pod, its Secret and the
 * webhook registration look like. No I/O, no clock, no randomness (the uuid and the certificate come in),
 * so every output is a golden file away from being checked.
 */
import { isIP } from 'node:net';
import { isCidr, MONITORED_BY_LABEL, PROXY_UUID_LABEL, WeftError, type ContainerHealthProbes, type HealthProbe } from '@weft/core';

/** OSM's opt-out: on the pod or its namespace, as an annotation (OSM's form) or a label. */
export const SIDECAR_INJECTION_KEY = 'openservicemesh.io/sidecar-injection';

/** OSM's per-pod exclusion lists (comma-separated), merged with the MeshConfig's global lists. */
export const OUTBOUND_IP_RANGE_EXCLUSION_ANNOTATION = 'openservicemesh.io/outbound-ip-range-exclusion-list';
export const OUTBOUND_PORT_EXCLUSION_ANNOTATION = 'openservicemesh.io/outbound-port-exclusion-list';
export const INBOUND_PORT_EXCLUSION_ANNOTATION = 'openservicemesh.io/inbound-port-exclusion-list';

/** OSM's probe paths; the kubelet asks `<path>/<container>` on the matching probe port. */
export const LIVENESS_PROBE_PATH = '/osm-liveness-probe';
export const READINESS_PROBE_PATH = '/osm-readiness-probe';
export const STARTUP_PROBE_PATH = '/osm-startup-probe';
/** A tcpSocket probe becomes a GET of this path on the healthcheck port, the original port in this header. */
export const HEALTHCHECK_PATH = '/osm-healthcheck';
export const ORIGINAL_TCP_PORT_HEADER = 'Original-Tcp-Port';

/**
 * The pod cannot be injected as written (a bad exclusion annotation, a probe on a port the container does not
 * declare): the admission is refused with this message, which names the field, whatever the failurePolicy.
 */
export class PodInjectionError extends WeftError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('INJECTOR_POD_INVALID', `${field}: ${message}`);
  }
}

/** Traffic the init container leaves alone, from the pod's annotations and the MeshConfig's spec.traffic. */
export interface TrafficExclusions {
  /** CIDRs; outbound connections to them bypass the sidecar. */
  readonly outboundIPRanges: readonly string[];
  readonly outboundPorts: readonly number[];
  readonly inboundPorts: readonly number[];
}

export const NO_EXCLUSIONS: TrafficExclusions = { outboundIPRanges: [], outboundPorts: [], inboundPorts: [] };

export interface InjectionOptions {
  readonly meshName: string;
  /** Envoy image of the sidecar container. */
  readonly sidecarImage: string;
  /** Image of the init container; needs `sh` and `iptables-restore`. */
  readonly initImage: string;
  /** The uid Envoy runs as; its own traffic is never redirected. */
  readonly proxyUid: number;
  readonly sidecarName: string;
  readonly initName: string;
  /** Weft's ADS port; connections to it are never redirected, whoever opens them. */
  readonly adsPort: number;
  readonly outboundPort: number;
  readonly inboundPort: number;
  readonly prometheusPort: number;
  readonly adminPort: number;
  /** Where the sidecar finds bootstrap.json, tls.crt, tls.key and ca.crt. */
  readonly mountPath: string;
  readonly envoyLogLevel: string;
  /** Envoy's probe listeners (OSM's 15901-15903) and the healthcheck container's port for tcpSocket probes (15904). */
  readonly livenessProbePort: number;
  readonly readinessProbePort: number;
  readonly startupProbePort: number;
  readonly healthcheckPort: number;
  /** OSM's osm-healthcheck: answers a GET by dialling 127.0.0.1:<Original-Tcp-Port>; added when a probe is tcpSocket. */
  readonly healthcheckImage: string;
  readonly healthcheckName: string;
}

export const DEFAULT_INJECTION_OPTIONS: InjectionOptions = {
  meshName: 'osm',
  sidecarImage: 'envoyproxy/envoy:v1.31-latest',
  initImage: 'openservicemesh/init:v1.2.0',
  proxyUid: 1500,
  sidecarName: 'envoy',
  initName: 'osm-init',
  adsPort: 15128,
  outboundPort: 15001,
  inboundPort: 15003,
  prometheusPort: 15010,
  adminPort: 15000,
  mountPath: '/etc/weft-proxy',
  envoyLogLevel: 'warn',
  livenessProbePort: 15901,
  readinessProbePort: 15902,
  startupProbePort: 15903,
  healthcheckPort: 15904,
  healthcheckImage: 'openservicemesh/osm-healthcheck:v1.2.0',
  healthcheckName: 'osm-healthcheck',
};

export const BOOTSTRAP_FILE = 'bootstrap.json';
export const PROXY_VOLUME = 'envoy-bootstrap-config-volume';

/** Name of the Secret holding a proxy's bootstrap and certificate (OSM's name for it). */
export function proxySecretName(uuid: string): string {
  return `envoy-bootstrap-config-${uuid}`;
}

/** Files of the proxy Secret as the sidecar sees them. */
export function proxyTlsFiles(options: Pick<InjectionOptions, 'mountPath'>): { certFile: string; keyFile: string; caFile: string } {
  return {
    certFile: `${options.mountPath}/tls.crt`,
    keyFile: `${options.mountPath}/tls.key`,
    caFile: `${options.mountPath}/ca.crt`,
  };
}

export interface ObjectMetaView {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export type InjectionDecision =
  | { readonly inject: true }
  | { readonly inject: false; readonly reason: 'namespace-not-monitored' | 'namespace-opted-out' | 'pod-opted-out' | 'already-injected' | 'host-network'; readonly detail: string };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** Labels and annotations of any Kubernetes object (missing maps read as empty). */
export function metaOf(obj: unknown): ObjectMetaView {
  const meta = isObject(obj) ? obj['metadata'] : undefined;
  return { labels: stringMap(isObject(meta) ? meta['labels'] : undefined), annotations: stringMap(isObject(meta) ? meta['annotations'] : undefined) };
}

function optedOut(meta: ObjectMetaView): boolean {
  const v = meta.annotations[SIDECAR_INJECTION_KEY] ?? meta.labels[SIDECAR_INJECTION_KEY];
  return v !== undefined && v.trim().toLowerCase() === 'disabled';
}

function containerNames(spec: Json, field: string): string[] {
  const list = spec[field];
  if (!Array.isArray(list)) return [];
  return list.map((c) => (isObject(c) && typeof c['name'] === 'string' ? c['name'] : '')).filter((n) => n !== '');
}

/**
 * Whether a pod being created gets a sidecar: its namespace joined this mesh, neither opted out, it does
 * not use the host's network (iptables there would redirect the node's traffic), and it has no sidecar yet.
 */
export function injectionDecision(pod: Json, namespace: ObjectMetaView, options: Pick<InjectionOptions, 'meshName' | 'sidecarName' | 'initName'>): InjectionDecision {
  const monitoredBy = namespace.labels[MONITORED_BY_LABEL];
  if (monitoredBy !== options.meshName) {
    return {
      inject: false,
      reason: 'namespace-not-monitored',
      detail: monitoredBy === undefined ? `the namespace has no ${MONITORED_BY_LABEL} label` : `the namespace is monitored by mesh "${monitoredBy}", not "${options.meshName}"`,
    };
  }
  if (optedOut(namespace)) return { inject: false, reason: 'namespace-opted-out', detail: `the namespace sets ${SIDECAR_INJECTION_KEY}: disabled` };
  if (optedOut(metaOf(pod))) return { inject: false, reason: 'pod-opted-out', detail: `the pod sets ${SIDECAR_INJECTION_KEY}: disabled` };
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  if (containerNames(spec, 'containers').includes(options.sidecarName) || containerNames(spec, 'initContainers').includes(options.initName)) {
    return { inject: false, reason: 'already-injected', detail: `the pod already has a "${options.sidecarName}" container or an "${options.initName}" init container` };
  }
  if (spec['hostNetwork'] === true) return { inject: false, reason: 'host-network', detail: 'the pod uses the host network' };
  return { inject: true };
}

/** Ports for `--match multiport --dports`, which takes at most 15 per rule. */
function multiportRules(chain: string, ports: readonly number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ports.length; i += 15) out.push(`-A ${chain} -p tcp --match multiport --dports ${ports.slice(i, i + 15).join(',')} -j RETURN`);
  return out;
}

export type IptablesOptions = Pick<
  InjectionOptions,
  'proxyUid' | 'adsPort' | 'outboundPort' | 'inboundPort' | 'prometheusPort' | 'adminPort' | 'livenessProbePort' | 'readinessProbePort' | 'startupProbePort' | 'healthcheckPort'
>;

/**
 * The init container's script: OSM's NAT rules (its chain names, so OSM's runbooks read the same), sending the
 * pod's inbound TCP to Envoy's inbound listener and its outbound TCP to the outbound listener. Not redirected:
 * inbound to the metrics, admin, probe and healthcheck ports (the kubelet's probes reach Envoy's probe
 * listeners, not the mTLS inbound one); Envoy's own traffic (its uid) except what it sends to the pod's own
 * IP over loopback, which goes to the inbound listener (a pod calling its own service through the mesh);
 * the app's loopback traffic; the ADS port (Envoy must reach Weft before it has any listener); outbound to
 * the admin port; and the exclusion lists. Only IPv4 rules are written, so IPv6 traffic is never redirected.
 */
export function iptablesScript(options: IptablesOptions, exclusions: TrafficExclusions = NO_EXCLUSIONS): string {
  const uid = options.proxyUid;
  const rules = [
    '*nat',
    ':OSM_PROXY_INBOUND - [0:0]',
    ':OSM_PROXY_IN_REDIRECT - [0:0]',
    ':OSM_PROXY_OUTBOUND - [0:0]',
    ':OSM_PROXY_OUT_REDIRECT - [0:0]',
    `-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port ${options.inboundPort}`,
    '-A PREROUTING -p tcp -j OSM_PROXY_INBOUND',
    ...[options.prometheusPort, options.adminPort, options.livenessProbePort, options.readinessProbePort, options.startupProbePort, options.healthcheckPort].map(
      (port) => `-A OSM_PROXY_INBOUND -p tcp --dport ${port} -j RETURN`,
    ),
    ...multiportRules('OSM_PROXY_INBOUND', exclusions.inboundPorts),
    '-A OSM_PROXY_INBOUND -p tcp -j OSM_PROXY_IN_REDIRECT',
    // OSM appends its admin-port ACCEPT after the REDIRECT, where it never matches; here it comes first.
    `-A OSM_PROXY_OUT_REDIRECT -p tcp --dport ${options.adminPort} -j ACCEPT`,
    `-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port ${options.outboundPort}`,
    '-A OUTPUT -p tcp -j OSM_PROXY_OUTBOUND',
    `-A OSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner ${uid} -j OSM_PROXY_IN_REDIRECT`,
    `-A OSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner ${uid} -j RETURN`,
    `-A OSM_PROXY_OUTBOUND -m owner --uid-owner ${uid} -j RETURN`,
    '-A OSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN',
    `-A OSM_PROXY_OUTBOUND -p tcp --dport ${options.adsPort} -j RETURN`,
    ...exclusions.outboundIPRanges.filter((cidr) => isIP(cidr.slice(0, cidr.indexOf('/'))) === 4).map((cidr) => `-A OSM_PROXY_OUTBOUND -d ${cidr} -j RETURN`),
    ...multiportRules('OSM_PROXY_OUTBOUND', exclusions.outboundPorts),
    '-A OSM_PROXY_OUTBOUND -j OSM_PROXY_OUT_REDIRECT',
    'COMMIT',
  ];
  return `set -e\niptables-restore --noflush <<'EOF'\n${rules.join('\n')}\nEOF\n`;
}

function portList(text: string | undefined, field: string): number[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const t = raw.trim();
    const port = /^\d{1,5}$/.test(t) ? Number(t) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new PodInjectionError(field, `${JSON.stringify(t)} is not a port (1-65535); expected a comma-separated list such as "6379,8125"`);
    return port;
  });
}

function cidrList(text: string | undefined, field: string): string[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const t = raw.trim();
    if (!isCidr(t)) throw new PodInjectionError(field, `${JSON.stringify(t)} is not an IP range in CIDR form; expected a comma-separated list such as "10.0.0.0/8,192.168.1.1/32"`);
    return t;
  });
}

function union<T>(first: readonly T[], second: readonly T[]): T[] {
  return [...new Set([...first, ...second])];
}

/**
 * The pod's exclusion annotations, validated (a bad value throws PodInjectionError naming the annotation), merged
 * with the MeshConfig's global lists as OSM merges them: ports global first, IP ranges the pod's first,
 * duplicates once. A blank annotation is an empty list.
 */
export function trafficExclusions(pod: ObjectMetaView, global: TrafficExclusions = NO_EXCLUSIONS): TrafficExclusions {
  const a = pod.annotations;
  const outboundIPRanges = cidrList(a[OUTBOUND_IP_RANGE_EXCLUSION_ANNOTATION], `metadata.annotations[${OUTBOUND_IP_RANGE_EXCLUSION_ANNOTATION}]`);
  const outboundPorts = portList(a[OUTBOUND_PORT_EXCLUSION_ANNOTATION], `metadata.annotations[${OUTBOUND_PORT_EXCLUSION_ANNOTATION}]`);
  const inboundPorts = portList(a[INBOUND_PORT_EXCLUSION_ANNOTATION], `metadata.annotations[${INBOUND_PORT_EXCLUSION_ANNOTATION}]`);
  return {
    outboundIPRanges: union(outboundIPRanges, global.outboundIPRanges),
    outboundPorts: union(global.outboundPorts, outboundPorts),
    inboundPorts: union(global.inboundPorts, inboundPorts),
  };
}

/**
 * The MeshConfig's spec.traffic exclusion lists, checked as the annotations are (a bad entry throws
 * PodInjectionError naming the MeshConfig field: every pod would get a broken init container otherwise).
 * Absent or null: no exclusions.
 */
export function meshConfigExclusions(meshConfig: unknown): TrafficExclusions {
  const spec = isObject(meshConfig) ? meshConfig['spec'] : undefined;
  const traffic = isObject(spec) ? spec['traffic'] : undefined;
  if (!isObject(traffic)) return NO_EXCLUSIONS;
  const list = (key: string): string[] => {
    const v = traffic[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new PodInjectionError(`MeshConfig spec.traffic.${key}`, 'must be a list');
    return v.map((x) => (typeof x === 'number' ? String(x) : typeof x === 'string' ? x : JSON.stringify(x)));
  };
  const joined = (key: string): string | undefined => {
    const items = list(key);
    return items.length === 0 ? undefined : items.join(',');
  };
  return {
    outboundIPRanges: cidrList(joined('outboundIPRangeExclusionList'), 'MeshConfig spec.traffic.outboundIPRangeExclusionList'),
    outboundPorts: portList(joined('outboundPortExclusionList'), 'MeshConfig spec.traffic.outboundPortExclusionList'),
    inboundPorts: portList(joined('inboundPortExclusionList'), 'MeshConfig spec.traffic.inboundPortExclusionList'),
  };
}

export function initContainer(options: InjectionOptions, exclusions: TrafficExclusions = NO_EXCLUSIONS): Json {
  return {
    name: options.initName,
    image: options.initImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', iptablesScript(options, exclusions)],
    securityContext: {
      // iptables needs root and NET_ADMIN in the pod's network namespace, nothing more.
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}

export function sidecarContainer(options: InjectionOptions, probes: readonly ContainerHealthProbes[] = []): Json {
  // OSM declares a probe port only when some container's probe of that type was rewritten to it.
  const probePorts = [
    { name: 'liveness-port', port: options.livenessProbePort, used: probes.some((p) => p.liveness !== undefined && p.liveness.kind !== 'tcp') },
    { name: 'readiness-port', port: options.readinessProbePort, used: probes.some((p) => p.readiness !== undefined && p.readiness.kind !== 'tcp') },
    { name: 'startup-port', port: options.startupProbePort, used: probes.some((p) => p.startup !== undefined && p.startup.kind !== 'tcp') },
  ].filter((p) => p.used);
  return {
    name: options.sidecarName,
    image: options.sidecarImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['envoy'],
    args: ['--config-path', `${options.mountPath}/${BOOTSTRAP_FILE}`, '--log-level', options.envoyLogLevel],
    ports: [
      { name: 'proxy-admin', containerPort: options.adminPort, protocol: 'TCP' },
      { name: 'proxy-outbound', containerPort: options.outboundPort, protocol: 'TCP' },
      { name: 'proxy-inbound', containerPort: options.inboundPort, protocol: 'TCP' },
      { name: 'proxy-metrics', containerPort: options.prometheusPort, protocol: 'TCP' },
      ...probePorts.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
    ],
    securityContext: {
      runAsUser: options.proxyUid,
      runAsGroup: options.proxyUid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: PROXY_VOLUME, mountPath: options.mountPath, readOnly: true }],
  };
}

export function proxyVolume(uuid: string): Json {
  // 0444: the files are owned by root and Envoy runs as its own uid; only the sidecar mounts the volume.
  return { name: PROXY_VOLUME, secret: { secretName: proxySecretName(uuid), defaultMode: 0o444 } };
}

export interface JsonPatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

/** RFC 6901 escaping of one reference token. */
export function pointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function addToList(spec: Json, field: string, item: Json): JsonPatchOperation {
  const list = spec[field];
  return Array.isArray(list) && list.length > 0
    ? { op: 'add', path: `/spec/${field}/-`, value: item }
    : { op: 'add', path: `/spec/${field}`, value: [item] };
}

/** OSM's osm-healthcheck container: serves the rewritten tcpSocket probes on the healthcheck port. */
export function healthcheckContainer(options: InjectionOptions): Json {
  return {
    name: options.healthcheckName,
    image: options.healthcheckImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['/osm-healthcheck'],
    args: ['--verbosity', 'info'],
    ports: [{ containerPort: options.healthcheckPort, protocol: 'TCP' }],
  };
}

type ProbeType = 'liveness' | 'readiness' | 'startup';
const PROBE_FIELDS: readonly { type: ProbeType; field: string; path: string; port: (o: InjectionOptions) => number }[] = [
  { type: 'liveness', field: 'livenessProbe', path: LIVENESS_PROBE_PATH, port: (o) => o.livenessProbePort },
  { type: 'readiness', field: 'readinessProbe', path: READINESS_PROBE_PATH, port: (o) => o.readinessProbePort },
  { type: 'startup', field: 'startupProbe', path: STARTUP_PROBE_PATH, port: (o) => o.startupProbePort },
];

/** A probe's port: a number, a numeric string (as OSM reads it) or the name of one of the container's ports. */
function probePort(port: unknown, container: Json, field: string): number {
  if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  if (typeof port === 'string' && /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535) return Number(port);
  if (typeof port === 'string' && port !== '') {
    const ports = Array.isArray(container['ports']) ? container['ports'] : [];
    for (const p of ports) if (isObject(p) && p['name'] === port && typeof p['containerPort'] === 'number') return p['containerPort'];
    throw new PodInjectionError(field, `the container declares no port named ${JSON.stringify(port)}; the sidecar could not forward the probe`);
  }
  throw new PodInjectionError(field, `must be a port number or the name of a container port, got ${JSON.stringify(port)}`);
}

interface ProbeRewrite {
  readonly ops: JsonPatchOperation[];
  readonly probes: ContainerHealthProbes[];
  usesTcp: boolean;
  readonly warnings: string[];
}

/**
 * OSM's probe rewrite. An httpGet probe (scheme HTTP) is pointed at Envoy's probe listener of its type, path
 * `<type path>/<container>`; an HTTPS one keeps its path and gets the probe port only (Envoy passes TLS through
 * to the original port, so one HTTPS probe per type can be served); a tcpSocket probe becomes a GET of
 * /osm-healthcheck on the healthcheck port with the original port in Original-Tcp-Port. exec and gRPC probes
 * and probes with an explicit `host` (they do not go to the pod) are left alone. Returns the originals, for the
 * bootstrap's probe listeners.
 */
function rewriteProbes(spec: Json, options: InjectionOptions): ProbeRewrite {
  const out: ProbeRewrite = { ops: [], probes: [], usesTcp: false, warnings: [] };
  const containers = Array.isArray(spec['containers']) ? spec['containers'] : [];
  const https = new Map<ProbeType, string[]>();
  containers.forEach((c, index) => {
    if (!isObject(c) || typeof c['name'] !== 'string') return;
    const name = c['name'];
    const recorded: { -readonly [K in ProbeType]?: HealthProbe } = {};
    for (const f of PROBE_FIELDS) {
      const probe = c[f.field];
      if (!isObject(probe)) continue;
      const where = `spec.containers[${name}].${f.field}`;
      const timeoutSeconds = typeof probe['timeoutSeconds'] === 'number' && probe['timeoutSeconds'] >= 1 ? probe['timeoutSeconds'] : 1;
      const httpGet = probe['httpGet'];
      const tcpSocket = probe['tcpSocket'];
      let rewritten: Json;
      if (isObject(httpGet)) {
        if (typeof httpGet['host'] === 'string' && httpGet['host'] !== '') continue;
        const port = probePort(httpGet['port'], c, `${where}.httpGet.port`);
        const scheme = typeof httpGet['scheme'] === 'string' ? httpGet['scheme'].toUpperCase() : 'HTTP';
        if (scheme === 'HTTPS') {
          recorded[f.type] = { kind: 'https', port, path: '', timeoutSeconds };
          https.set(f.type, [...(https.get(f.type) ?? []), name]);
          rewritten = { ...probe, httpGet: { ...httpGet, port: f.port(options) } };
        } else {
          const path = typeof httpGet['path'] === 'string' && httpGet['path'] !== '' ? httpGet['path'] : '/';
          recorded[f.type] = { kind: 'http', port, path, timeoutSeconds };
          rewritten = { ...probe, httpGet: { ...httpGet, path: `${f.path}/${name}`, port: f.port(options) } };
        }
      } else if (isObject(tcpSocket)) {
        if (typeof tcpSocket['host'] === 'string' && tcpSocket['host'] !== '') continue;
        const port = probePort(tcpSocket['port'], c, `${where}.tcpSocket.port`);
        recorded[f.type] = { kind: 'tcp', port, path: '', timeoutSeconds };
        const { tcpSocket: _dropped, ...rest } = probe;
        rewritten = { ...rest, httpGet: { path: HEALTHCHECK_PATH, port: options.healthcheckPort, httpHeaders: [{ name: ORIGINAL_TCP_PORT_HEADER, value: String(port) }] } };
        out.usesTcp = true;
      } else {
        continue;
      }
      out.ops.push({ op: 'replace', path: `/spec/containers/${index}/${f.field}`, value: rewritten });
    }
    if (Object.keys(recorded).length > 0) out.probes.push({ container: name, ...recorded });
  });
  for (const [type, names] of https) {
    if (names.length > 1) {
      out.warnings.push(
        `containers ${names.join(', ')} have HTTPS ${type} probes; the sidecar passes HTTPS probes through unopened, so all of them reach ${names.at(-1) ?? ''}'s port (as under OSM)`,
      );
    }
  }
  return out;
}

/** What injecting a pod takes: the JSONPatch, the original probes (for the bootstrap), warnings for the API server. */
export interface PodInjection {
  readonly patch: JsonPatchOperation[];
  readonly healthProbes: ContainerHealthProbes[];
  readonly warnings: string[];
}

/**
 * The injection of a pod: the proxy uuid label; the pod's probes pointed at the sidecar; the iptables init
 * container (after the pod's own, which may need the network before Envoy runs) with the pod's and the
 * MeshConfig's exclusions; the healthcheck container when a probe was tcpSocket; the sidecar; the Secret
 * volume. Throws PodInjectionError when the pod's annotations or probes cannot be honoured.
 */
export function planPodInjection(pod: Json, uuid: string, options: InjectionOptions, global: TrafficExclusions = NO_EXCLUSIONS): PodInjection {
  const meta = isObject(pod['metadata']) ? pod['metadata'] : {};
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  const exclusions = trafficExclusions(metaOf(pod), global);
  const probes = rewriteProbes(spec, options);
  const ops: JsonPatchOperation[] = [];
  ops.push(
    isObject(meta['labels'])
      ? { op: 'add', path: `/metadata/labels/${pointerToken(PROXY_UUID_LABEL)}`, value: uuid }
      : { op: 'add', path: '/metadata/labels', value: { [PROXY_UUID_LABEL]: uuid } },
  );
  // The probe replacements address containers by index: they come before the appends, which do not move them.
  ops.push(...probes.ops);
  ops.push(addToList(spec, 'initContainers', initContainer(options, exclusions)));
  const sidecars = [...(probes.usesTcp ? [healthcheckContainer(options)] : []), sidecarContainer(options, probes.probes)];
  // Each append sees the list as the previous one left it (the first may create it).
  let containers: unknown[] = Array.isArray(spec['containers']) ? spec['containers'] : [];
  for (const c of sidecars) {
    ops.push(addToList({ containers }, 'containers', c));
    containers = [...containers, c];
  }
  ops.push(addToList(spec, 'volumes', proxyVolume(uuid)));
  return { patch: ops, healthProbes: probes.probes, warnings: probes.warnings };
}

/** The JSONPatch alone (see planPodInjection). */
export function buildPodPatch(pod: Json, uuid: string, options: InjectionOptions, global: TrafficExclusions = NO_EXCLUSIONS): JsonPatchOperation[] {
  return planPodInjection(pod, uuid, options, global).patch;
}

export interface ProxySecretInput {
  readonly uuid: string;
  readonly namespace: string;
  readonly meshName: string;
  readonly bootstrap: unknown;
  /** Leaf then chain, PEM. */
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly trustBundle: readonly string[];
}

function pemLines(pems: readonly string[]): string {
  return pems.map((p) => p.trim()).join('\n') + '\n';
}

/** The Secret the sidecar mounts: its bootstrap, client certificate, key and the mesh's trust bundle. */
export function buildProxySecret(input: ProxySecretInput): Json {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: proxySecretName(input.uuid),
      namespace: input.namespace,
      labels: { [PROXY_UUID_LABEL]: input.uuid, [MONITORED_BY_LABEL]: input.meshName },
    },
    type: 'Opaque',
    stringData: {
      [BOOTSTRAP_FILE]: JSON.stringify(input.bootstrap, null, 2) + '\n',
      'tls.crt': input.certChainPem.trim() + '\n',
      'tls.key': input.keyPem,
      'ca.crt': pemLines(input.trustBundle),
    },
  };
}

export interface WebhookRegistration {
  /** Name of the MutatingWebhookConfiguration. */
  readonly name: string;
  readonly meshName: string;
  readonly caBundle: readonly string[];
  readonly failurePolicy: 'Fail' | 'Ignore';
  readonly timeoutSeconds: number;
  /** Where the API server calls: a URL, or a Service in the cluster. */
  readonly clientConfig: { readonly url: string } | { readonly service: { readonly namespace: string; readonly name: string; readonly port: number; readonly path: string } };
}

/**
 * The MutatingWebhookConfiguration: pod CREATE only, in namespaces labelled into this mesh and not opted
 * out by label (the injector checks the annotation itself), never in the control plane's kube-system.
 * Side effects (the proxy Secret) are skipped on dry run, which the API server is told.
 */
export function buildWebhookConfiguration(reg: WebhookRegistration): Json {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: reg.name, labels: { [MONITORED_BY_LABEL]: reg.meshName } },
    webhooks: [
      {
        name: `sidecar-injector.${reg.meshName}.weft.dev`,
        clientConfig: { ...reg.clientConfig, caBundle: Buffer.from(pemLines(reg.caBundle)).toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: {
          matchLabels: { [MONITORED_BY_LABEL]: reg.meshName },
          matchExpressions: [
            { key: SIDECAR_INJECTION_KEY, operator: 'NotIn', values: ['disabled'] },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
          ],
        },
        failurePolicy: reg.failurePolicy,
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'Never',
        sideEffects: 'NoneOnDryRun',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: reg.timeoutSeconds,
      },
    ],
  };
}
