/**
 * The injector's config section in weft.yaml, validated field by field; a bad field is named by its path.
 */
import { parseDuration, PluginConfigError } from '@weft/core';
import { DEFAULT_INJECTION_OPTIONS } from './patch.js';

export interface InjectorConfig {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly meshName: string;
  /** Weft's ADS address as sidecars dial it. */
  readonly xds: { readonly host: string; readonly port: number };
  readonly listenHost: string;
  /** 0 picks a free port (tests; `webhookUrl` may then use `{port}`). */
  readonly listenPort: number;
  readonly path: string;
  readonly sidecarImage: string;
  readonly initImage: string;
  /** OSM's osm-healthcheck image, added to pods with a tcpSocket probe (it answers the rewritten probe). */
  readonly healthcheckImage: string;
  readonly proxyUid: number;
  /** The proxy kind of the sidecar: the adapter that writes its bootstrap, and the kind in its certificate. */
  readonly proxyKind: string;
  readonly failurePolicy: 'Fail' | 'Ignore';
  readonly timeoutSeconds: number;
  /** Create or update the MutatingWebhookConfiguration at start (and its caBundle when the trust bundle changes). */
  readonly registerWebhook: boolean;
  readonly webhookName: string;
  /** The API server calls this URL (`{port}` is replaced by the listening port) instead of the Service. */
  readonly webhookUrl?: string;
  readonly service: { readonly namespace: string; readonly name: string; readonly port: number };
  /** Extra DNS names or IP addresses on the serving certificate. */
  readonly servingNames: readonly string[];
  /** Validity of a proxy's bootstrap certificate; the issuer's default when absent. */
  readonly proxyCertificateValidityMs?: number;
  /** Interval of the sweep of bootstrap Secrets whose pod is gone (one also runs at start). */
  readonly secretSweepMs: number;
  /** A Secret without a pod is swept only when older than this: it is written before its pod exists. */
  readonly secretGraceMs: number;
}

const FIELDS = [
  'kubeconfig', 'context', 'meshName', 'xds', 'listenHost', 'listenPort', 'path', 'sidecarImage', 'initImage', 'healthcheckImage',
  'proxyUid', 'proxyKind', 'failurePolicy', 'timeoutSeconds', 'registerWebhook', 'webhookName', 'webhookUrl', 'service', 'servingNames',
  'proxyCertificateValidity', 'secretSweepMs', 'secretGraceMs',
];

/** setInterval's and setTimeout's largest delay (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(raw: Record<string, unknown>, key: string, what: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new PluginConfigError(key, `must be ${what} (got ${JSON.stringify(v)})`);
  return v;
}

function int(raw: Record<string, unknown>, key: string, dflt: number, min: number, max: number, path = key): number {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PluginConfigError(path, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function label(value: string, path: string, what: string): string {
  if (!LABEL.test(value)) throw new PluginConfigError(path, `must be ${what}: a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(value)}`);
  return value;
}

/** "host:port" or "[v6]:port". */
export function parseHostPort(value: string, path: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new PluginConfigError(path, `must be host:port of Weft's ADS server as sidecars reach it, e.g. weft.osm-system.svc:15128 (got ${JSON.stringify(value)})`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

export function validateInjectorConfig(raw: unknown): InjectorConfig {
  if (raw !== undefined && raw !== null && !isObject(raw)) {
    throw new PluginConfigError('', 'must be a mapping (all fields are optional: meshName, xds, sidecarImage, ...)');
  }
  const r: Record<string, unknown> = isObject(raw) ? raw : {};
  for (const k of Object.keys(r)) {
    if (!FIELDS.includes(k)) throw new PluginConfigError(k, `unknown field; expected one of ${FIELDS.join(', ')}`);
  }
  const kubeconfig = optionalString(r, 'kubeconfig', 'the path of a kubeconfig file');
  const context = optionalString(r, 'context', 'the name of a context in the kubeconfig');
  const meshName = label(optionalString(r, 'meshName', 'the mesh name') ?? DEFAULT_INJECTION_OPTIONS.meshName, 'meshName', 'the mesh name');
  const xds = parseHostPort(optionalString(r, 'xds', 'host:port') ?? `weft.${meshName}.svc:${DEFAULT_INJECTION_OPTIONS.adsPort}`, 'xds');
  const path = optionalString(r, 'path', 'a URL path') ?? '/mutate-pod-creation';
  if (!/^\/[A-Za-z0-9/_.-]*$/.test(path)) throw new PluginConfigError('path', `must be a URL path starting with '/', got ${JSON.stringify(path)}`);
  const failurePolicy = r['failurePolicy'] ?? 'Fail';
  if (failurePolicy !== 'Fail' && failurePolicy !== 'Ignore') {
    throw new PluginConfigError('failurePolicy', `must be Fail (pods are refused while the injector is down) or Ignore (they start without a sidecar), got ${JSON.stringify(failurePolicy)}`);
  }
  const registerWebhook = r['registerWebhook'] ?? true;
  if (typeof registerWebhook !== 'boolean') throw new PluginConfigError('registerWebhook', `must be true or false, got ${JSON.stringify(registerWebhook)}`);
  const webhookUrl = optionalString(r, 'webhookUrl', 'an https:// URL');
  if (webhookUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(webhookUrl.replace('{port}', '1'));
    } catch {
      u = undefined;
    }
    if (u === undefined || u.protocol !== 'https:') throw new PluginConfigError('webhookUrl', `must be an https:// URL, got ${JSON.stringify(webhookUrl)}`);
  }
  const serviceRaw = r['service'] ?? {};
  if (!isObject(serviceRaw)) throw new PluginConfigError('service', 'must be a mapping with namespace, name and port');
  for (const k of Object.keys(serviceRaw)) {
    if (!['namespace', 'name', 'port'].includes(k)) throw new PluginConfigError(`service.${k}`, 'unknown field; expected namespace, name or port');
  }
  const service = {
    namespace: label(typeof serviceRaw['namespace'] === 'string' ? serviceRaw['namespace'] : 'weft-system', 'service.namespace', 'a namespace'),
    name: label(typeof serviceRaw['name'] === 'string' ? serviceRaw['name'] : 'weft-injector', 'service.name', 'a Service name'),
    port: int(serviceRaw, 'port', 443, 1, 65535, 'service.port'),
  };
  const namesRaw = r['servingNames'] ?? [];
  if (!Array.isArray(namesRaw) || namesRaw.some((n) => typeof n !== 'string' || n === '')) {
    throw new PluginConfigError('servingNames', 'must be a list of DNS names or IP addresses');
  }
  const validityText = optionalString(r, 'proxyCertificateValidity', 'a duration such as 8760h');
  const validityMs = validityText === undefined ? undefined : parseDuration(validityText);
  if (validityMs === null || (validityMs !== undefined && validityMs < 60_000)) {
    throw new PluginConfigError('proxyCertificateValidity', `must be a duration of at least 1m, such as 720h, got ${JSON.stringify(validityText)}`);
  }
  const timeoutSeconds = int(r, 'timeoutSeconds', 10, 1, 30);
  const secretSweepMs = int(r, 'secretSweepMs', 600_000, 1_000, MAX_TIMER_MS);
  // A Secret is written during the admission call, before its pod exists; the API server waits for that call at
  // most timeoutSeconds, so a shorter grace period could sweep the Secret of a pod being created.
  const secretGraceMs = int(r, 'secretGraceMs', 300_000, 0, MAX_TIMER_MS);
  if (secretGraceMs < timeoutSeconds * 1000) {
    throw new PluginConfigError('secretGraceMs', `must be at least timeoutSeconds (${timeoutSeconds} s = ${timeoutSeconds * 1000} ms): a Secret is written before its pod exists, during the admission call; got ${secretGraceMs}`);
  }
  return {
    ...(validityMs === undefined ? {} : { proxyCertificateValidityMs: validityMs }),
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    ...(context === undefined ? {} : { context }),
    meshName,
    xds,
    listenHost: optionalString(r, 'listenHost', 'an address to listen on') ?? '0.0.0.0',
    listenPort: int(r, 'listenPort', 9443, 0, 65535),
    path,
    sidecarImage: optionalString(r, 'sidecarImage', 'an image reference') ?? DEFAULT_INJECTION_OPTIONS.sidecarImage,
    initImage: optionalString(r, 'initImage', 'an image reference') ?? DEFAULT_INJECTION_OPTIONS.initImage,
    healthcheckImage: optionalString(r, 'healthcheckImage', 'an image reference') ?? DEFAULT_INJECTION_OPTIONS.healthcheckImage,
    proxyUid: int(r, 'proxyUid', DEFAULT_INJECTION_OPTIONS.proxyUid, 1, 2147483647),
    proxyKind: label(optionalString(r, 'proxyKind', 'a proxy kind') ?? 'envoy', 'proxyKind', 'a proxy kind'),
    failurePolicy,
    timeoutSeconds,
    registerWebhook,
    webhookName: label(optionalString(r, 'webhookName', 'a name') ?? `weft-sidecar-injector-${meshName}`, 'webhookName', 'a MutatingWebhookConfiguration name'),
    ...(webhookUrl === undefined ? {} : { webhookUrl }),
    service,
    servingNames: namesRaw as string[],
    secretSweepMs,
    secretGraceMs,
  };
}
