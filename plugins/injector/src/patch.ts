/**
 * The pure half of the injector: whether a pod gets a sidecar, and what the pod, its Secret and the
 * webhook registration look like. No I/O, no clock, no randomness (the uuid and the certificate come in),
 * so every output is a golden file away from being checked.
 */
import { MONITORED_BY_LABEL, PROXY_UUID_LABEL } from '@weft/core';

/** OSM's opt-out: on the pod or its namespace, as an annotation (OSM's form) or a label. */
export const SIDECAR_INJECTION_KEY = 'openservicemesh.io/sidecar-injection';

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

/**
 * The init container's script: NAT rules sending the pod's outbound TCP to Envoy's outbound listener and
 * inbound TCP to its inbound listener. Envoy's own traffic (its uid), loopback and the ADS port stay
 * untouched, or Envoy would loop into itself and could never fetch its configuration; the admin and
 * metrics ports stay reachable from outside the pod.
 */
export function iptablesScript(options: Pick<InjectionOptions, 'proxyUid' | 'adsPort' | 'outboundPort' | 'inboundPort' | 'prometheusPort' | 'adminPort'>): string {
  const rules = [
    '*nat',
    ':WEFT_INBOUND - [0:0]',
    ':WEFT_IN_REDIRECT - [0:0]',
    ':WEFT_OUTPUT - [0:0]',
    ':WEFT_REDIRECT - [0:0]',
    `-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${options.inboundPort}`,
    `-A WEFT_INBOUND -p tcp --dport ${options.prometheusPort} -j RETURN`,
    `-A WEFT_INBOUND -p tcp --dport ${options.adminPort} -j RETURN`,
    '-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT',
    '-A PREROUTING -p tcp -j WEFT_INBOUND',
    `-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports ${options.outboundPort}`,
    `-A WEFT_OUTPUT -m owner --uid-owner ${options.proxyUid} -j RETURN`,
    '-A WEFT_OUTPUT -d 127.0.0.1/32 -j RETURN',
    `-A WEFT_OUTPUT -p tcp --dport ${options.adsPort} -j RETURN`,
    '-A WEFT_OUTPUT -j WEFT_REDIRECT',
    '-A OUTPUT -p tcp -j WEFT_OUTPUT',
    'COMMIT',
  ];
  return `set -e\niptables-restore --noflush <<'EOF'\n${rules.join('\n')}\nEOF\n`;
}

export function initContainer(options: InjectionOptions): Json {
  return {
    name: options.initName,
    image: options.initImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', iptablesScript(options)],
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

export function sidecarContainer(options: InjectionOptions): Json {
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
  readonly op: 'add';
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

/**
 * The JSONPatch that injects a pod: the proxy uuid label, the iptables init container (after the pod's
 * own, which may need the network before Envoy runs), the sidecar and the Secret volume.
 */
export function buildPodPatch(pod: Json, uuid: string, options: InjectionOptions): JsonPatchOperation[] {
  const meta = isObject(pod['metadata']) ? pod['metadata'] : {};
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  const ops: JsonPatchOperation[] = [];
  ops.push(
    isObject(meta['labels'])
      ? { op: 'add', path: `/metadata/labels/${pointerToken(PROXY_UUID_LABEL)}`, value: uuid }
      : { op: 'add', path: '/metadata/labels', value: { [PROXY_UUID_LABEL]: uuid } },
  );
  ops.push(addToList(spec, 'initContainers', initContainer(options)));
  ops.push(addToList(spec, 'containers', sidecarContainer(options)));
  ops.push(addToList(spec, 'volumes', proxyVolume(uuid)));
  return ops;
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
