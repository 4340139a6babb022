/**
 * Objects of the SMI and OSM kinds, each with what Weft's model (core/src/model) and the CRD schemas in
 * deploy/kubernetes/crds are expected to say about it. crd-schema.test.ts feeds every one to both.
 *
 * - `valid`: both accept it.
 * - `invalid`: both refuse it; `field` is what the API server's message names (default: the first path
 *   the model names).
 * - `weftOnly`: the model refuses it and the API server stores it: a rule a schema cannot state (listed
 *   in the CRD file's header). The test asserts the API server accepts it, so a schema that learns the
 *   rule moves the case to `invalid`.
 * - `schemaOnly`: the API server refuses it and the model reads it: unknown fields (a typo; kubectl's
 *   strict field validation refuses them, Weft ignores them) and the bounds CEL rules need.
 */

export type Expect = 'valid' | 'invalid' | 'weftOnly' | 'schemaOnly';

export interface CrdCase {
  readonly name: string;
  readonly object: Record<string, unknown>;
  readonly expect: Expect;
  readonly field?: string;
}

type Spec = Record<string, unknown>;

export interface Kind {
  readonly kind: string;
  readonly apiVersion: string;
  readonly plural: string;
}

export const KINDS: Record<string, Kind> = {
  TrafficTarget: { kind: 'TrafficTarget', apiVersion: 'access.smi-spec.io/v1alpha3', plural: 'traffictargets' },
  HTTPRouteGroup: { kind: 'HTTPRouteGroup', apiVersion: 'specs.smi-spec.io/v1alpha4', plural: 'httproutegroups' },
  TCPRoute: { kind: 'TCPRoute', apiVersion: 'specs.smi-spec.io/v1alpha4', plural: 'tcproutes' },
  TrafficSplit: { kind: 'TrafficSplit', apiVersion: 'split.smi-spec.io/v1alpha2', plural: 'trafficsplits' },
  Egress: { kind: 'Egress', apiVersion: 'policy.openservicemesh.io/v1alpha1', plural: 'egresses' },
  IngressBackend: { kind: 'IngressBackend', apiVersion: 'policy.openservicemesh.io/v1alpha1', plural: 'ingressbackends' },
  Retry: { kind: 'Retry', apiVersion: 'policy.openservicemesh.io/v1alpha1', plural: 'retries' },
  UpstreamTrafficSetting: {
    kind: 'UpstreamTrafficSetting',
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    plural: 'upstreamtrafficsettings',
  },
  MeshConfig: { kind: 'MeshConfig', apiVersion: 'config.openservicemesh.io/v1alpha2', plural: 'meshconfigs' },
};

/** The namespace every case object is created in (dry run); set by the test before building cases. */
export function buildCases(namespace: string): CrdCase[] {
  const cases: CrdCase[] = [];
  let n = 0;
  const obj = (kind: string, spec: Spec | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const k = KINDS[kind]!;
    n += 1;
    return {
      apiVersion: k.apiVersion,
      kind: k.kind,
      metadata: { name: `case-${n}`, namespace },
      ...(spec === undefined ? {} : { spec }),
      ...extra,
    };
  };
  const add = (expect: Expect, kind: string, name: string, spec: Spec | undefined, field?: string): void => {
    cases.push({ name: `${kind}: ${name}`, object: obj(kind, spec), expect, ...(field === undefined ? {} : { field }) });
  };
  const sa = (name: string, ns?: string): Spec => ({ kind: 'ServiceAccount', name, ...(ns === undefined ? {} : { namespace: ns }) });

  // TrafficTarget
  const tt = (over: Spec = {}): Spec => ({
    destination: sa('shop', namespace),
    sources: [sa('buyer')],
    rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
    ...over,
  });
  add('valid', 'TrafficTarget', 'a destination, a source and an HTTP rule', tt());
  add('valid', 'TrafficTarget', 'no rules, destination port (OSM CRD field)', tt({ rules: undefined, destination: { ...sa('shop'), port: 8080 } }));
  add('invalid', 'TrafficTarget', 'no spec', undefined);
  add('invalid', 'TrafficTarget', 'no sources', tt({ sources: [] }));
  add('invalid', 'TrafficTarget', 'sources missing', tt({ sources: undefined }));
  add('invalid', 'TrafficTarget', 'destination kind Service', tt({ destination: { kind: 'Service', name: 'shop' } }));
  add('invalid', 'TrafficTarget', 'source without name', tt({ sources: [{ kind: 'ServiceAccount' }] }));
  add('invalid', 'TrafficTarget', 'source with empty name', tt({ sources: [sa('')] }));
  add('invalid', 'TrafficTarget', 'rule kind Deployment', tt({ rules: [{ kind: 'Deployment', name: 'x' }] }));
  add('invalid', 'TrafficTarget', 'rule matches not strings', tt({ rules: [{ kind: 'TCPRoute', name: 'x', matches: [3] }] }));
  add('weftOnly', 'TrafficTarget', 'destination in another namespace', tt({ destination: sa('shop', 'elsewhere') }));

  // HTTPRouteGroup
  const hrg = (over: Spec = {}): Spec => ({
    matches: [{ name: 'all', pathRegex: '/api/.*', methods: ['GET', 'post'], headers: [{ 'user-agent': '.*' }], ...over }],
  });
  add('valid', 'HTTPRouteGroup', 'a match with path, methods (any case) and SMI list headers', hrg());
  add('valid', 'HTTPRouteGroup', 'headers as a plain map', hrg({ headers: { host: 'shop' } }));
  add('valid', 'HTTPRouteGroup', 'two matches, method "*"', { matches: [{ name: 'a', methods: ['*'] }, { name: 'b' }] });
  add('invalid', 'HTTPRouteGroup', 'no matches', {});
  add('invalid', 'HTTPRouteGroup', 'match without name', { matches: [{ pathRegex: '/' }] });
  add('invalid', 'HTTPRouteGroup', 'method FETCH', hrg({ methods: ['FETCH'] }));
  add('invalid', 'HTTPRouteGroup', 'methods not a list', hrg({ methods: 'GET' }));
  add('invalid', 'HTTPRouteGroup', 'a repeated match name', { matches: [{ name: 'a' }, { name: 'a' }] }, 'spec.matches[1]');
  add('weftOnly', 'HTTPRouteGroup', 'a pathRegex that does not compile', hrg({ pathRegex: '/api/(' }));
  add('weftOnly', 'HTTPRouteGroup', 'headers as a string', hrg({ headers: 'user-agent' }));

  // TCPRoute
  add('valid', 'TCPRoute', 'two ports', { matches: { ports: [5432, 6379] } });
  add('valid', 'TCPRoute', 'no matches (every port)', {});
  add('invalid', 'TCPRoute', 'no spec', undefined);
  add('invalid', 'TCPRoute', 'port 0', { matches: { ports: [0] } });
  add('invalid', 'TCPRoute', 'port 70000', { matches: { ports: [70000] } });
  add('invalid', 'TCPRoute', 'port as a string', { matches: { ports: ['80'] } });

  // TrafficSplit
  const ts = (over: Spec = {}): Spec => ({
    service: 'shop',
    backends: [
      { service: 'shop-v1', weight: 90 },
      { service: 'shop-v2', weight: 10 },
    ],
    ...over,
  });
  add('valid', 'TrafficSplit', 'two weighted backends', ts());
  add('valid', 'TrafficSplit', 'apex as an FQDN of its own namespace, weight 0, matches', {
    ...ts({ service: `shop.${namespace}.svc.cluster.local` }),
    backends: [{ service: 'shop-v1', weight: 0 }],
    matches: [{ kind: 'HTTPRouteGroup', name: 'routes' }],
  });
  add('invalid', 'TrafficSplit', 'a negative weight', ts({ backends: [{ service: 'shop-v1', weight: -5 }] }));
  add('invalid', 'TrafficSplit', 'a weight as a string', ts({ backends: [{ service: 'shop-v1', weight: '50' }] }));
  add('invalid', 'TrafficSplit', 'a fractional weight', ts({ backends: [{ service: 'shop-v1', weight: 0.5 }] }));
  add('invalid', 'TrafficSplit', 'a backend without weight', ts({ backends: [{ service: 'shop-v1' }] }));
  add('invalid', 'TrafficSplit', 'no backends', ts({ backends: [] }));
  add('invalid', 'TrafficSplit', 'no service', ts({ service: undefined }));
  add('invalid', 'TrafficSplit', 'an empty service', ts({ service: '' }));
  add('invalid', 'TrafficSplit', 'a match of kind TCPRoute', ts({ matches: [{ kind: 'TCPRoute', name: 'x' }] }));
  add('weftOnly', 'TrafficSplit', 'apex in another namespace', ts({ service: 'shop.elsewhere' }));

  // Egress
  const eg = (over: Spec = {}): Spec => ({
    sources: [sa('buyer')],
    hosts: ['httpbin.org'],
    ipAddresses: ['10.0.0.0/8', '10.1.2.3/16', 'fd00::/8'],
    ports: [{ number: 443, protocol: 'HTTPS' }],
    matches: [
      { apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'routes' },
      { apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'limits' },
    ],
    ...over,
  });
  add('valid', 'Egress', 'hosts, CIDRs (host bits, IPv6), an upper-case protocol, two kinds of match', eg());
  add('valid', 'Egress', 'tcp-server-first, no hosts', eg({ hosts: undefined, matches: undefined, ports: [{ number: 25, protocol: 'tcp-server-first' }] }));
  add('invalid', 'Egress', 'no ports', eg({ ports: [] }));
  add('invalid', 'Egress', 'no sources', eg({ sources: undefined }));
  add('invalid', 'Egress', 'protocol udp', eg({ ports: [{ number: 53, protocol: 'udp' }] }));
  add('invalid', 'Egress', 'a port without protocol', eg({ ports: [{ number: 53 }] }));
  add('invalid', 'Egress', 'an address that is not a CIDR', eg({ ipAddresses: ['10.0.0.0'] }));
  add('invalid', 'Egress', 'a prefix too long', eg({ ipAddresses: ['10.0.0.0/33'] }));
  add('invalid', 'Egress', 'an empty host', eg({ hosts: [''] }));
  add('invalid', 'Egress', 'two UpstreamTrafficSetting matches', eg({
    matches: [
      { apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'a' },
      { apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'b' },
    ],
  }), 'spec.matches');
  add('invalid', 'Egress', 'an HTTPRouteGroup under the OSM policy group', eg({
    matches: [{ apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'HTTPRouteGroup', name: 'a' }],
  }), 'spec.matches[0]');
  add('invalid', 'Egress', 'an unknown apiGroup', eg({ matches: [{ apiGroup: 'v1', kind: 'Service', name: 'a' }] }));

  // IngressBackend
  const ib = (over: Spec = {}): Spec => ({
    backends: [{ name: 'shop', port: { number: 8080, protocol: 'https' }, tls: { skipClientCertValidation: false, sniHosts: ['shop.example'] } }],
    sources: [
      { kind: 'Service', name: 'ingress', namespace: 'ingress-nginx' },
      { kind: 'IPRange', name: '10.0.0.0/8' },
      { kind: 'AuthenticatedPrincipal', name: 'ingress.ingress-nginx.cluster.local' },
    ],
    ...over,
  });
  add('valid', 'IngressBackend', 'a TLS backend and each kind of source', ib());
  add('invalid', 'IngressBackend', 'protocol tcp', ib({ backends: [{ name: 'shop', port: { number: 80, protocol: 'tcp' } }] }));
  add('invalid', 'IngressBackend', 'a backend without port', ib({ backends: [{ name: 'shop' }] }));
  add('invalid', 'IngressBackend', 'no backends', ib({ backends: [] }));
  add('invalid', 'IngressBackend', 'an IPRange that is not a CIDR', ib({ sources: [{ kind: 'IPRange', name: 'everyone' }] }), 'spec.sources[0].name');
  add('invalid', 'IngressBackend', 'a Service source without namespace', ib({ sources: [{ kind: 'Service', name: 'ingress' }] }), 'spec.sources[0].namespace');
  add('invalid', 'IngressBackend', 'source kind Pod', ib({ sources: [{ kind: 'Pod', name: 'x' }] }));
  add('invalid', 'IngressBackend', 'skipClientCertValidation as a string', ib({
    backends: [{ name: 'shop', port: { number: 80, protocol: 'http' }, tls: { skipClientCertValidation: 'yes' } }],
  }));
  add('weftOnly', 'IngressBackend', 'a backend repeated', ib({
    backends: [
      { name: 'shop', port: { number: 80, protocol: 'http' } },
      { name: 'shop', port: { number: 80, protocol: 'http' } },
    ],
  }));
  add('schemaOnly', 'IngressBackend', 'more than 200 sources (the bound the CEL rule needs)', ib({
    sources: Array.from({ length: 201 }, (_, i) => ({ kind: 'AuthenticatedPrincipal', name: `p${i}` })),
  }), 'spec.sources');

  // Retry
  const rt = (over: Spec = {}, policy: Spec = {}): Spec => ({
    source: sa('buyer'),
    destinations: [{ kind: 'Service', name: 'shop', namespace }],
    retryPolicy: { retryOn: '5xx, reset,connect-failure', perTryTimeout: '1.5s', numRetries: 3, retryBackoffBaseInterval: '100ms', ...policy },
    ...over,
  });
  add('valid', 'Retry', 'conditions with blanks, durations', rt());
  add('valid', 'Retry', 'OSM Go type backoff field, duration 1h30m, zero', rt({}, { retryBackoffBaseInterval: undefined, retryBackoffInterval: '1h30m', perTryTimeout: '0' }));
  add('invalid', 'Retry', 'an unknown condition', rt({}, { retryOn: '5xx,teapot' }));
  add('invalid', 'Retry', 'no retryOn', rt({}, { retryOn: undefined }));
  add('invalid', 'Retry', 'a duration without unit', rt({}, { perTryTimeout: '15' }));
  add('invalid', 'Retry', 'a negative duration', rt({}, { perTryTimeout: '-1s' }));
  add('invalid', 'Retry', 'numRetries past uint32', rt({}, { numRetries: 4294967296 }));
  add('invalid', 'Retry', 'a destination of kind Pod', rt({ destinations: [{ kind: 'Pod', name: 'x' }] }));
  add('invalid', 'Retry', 'no retryPolicy', rt({ retryPolicy: undefined }));
  add('invalid', 'Retry', 'no source', rt({ source: undefined }));

  // UpstreamTrafficSetting
  const limit = { requests: 100, unit: 'minute', burst: 10, responseStatusCode: 503, responseHeadersToAdd: [{ name: 'x-limited', value: 'yes' }] };
  const uts = (over: Spec = {}): Spec => ({
    host: 'shop',
    connectionSettings: {
      tcp: { maxConnections: 100, connectTimeout: '5s' },
      http: { maxRequests: 10, maxPendingRequests: 5, maxRetries: 2, maxRequestsPerConnection: 1 },
    },
    rateLimit: { local: { tcp: { connections: 10, unit: 'second', burst: 2 }, http: limit } },
    httpRoutes: [{ path: '/api', rateLimit: { local: { requests: 5, unit: 'hour' } } }],
    ...over,
  });
  add('valid', 'UpstreamTrafficSetting', 'connection settings, local limits, a route limit', uts());
  add('valid', 'UpstreamTrafficSetting', "OSM's global rate limit (kept, not read)", uts({
    rateLimit: { global: { http: { rateLimitService: { host: 'rls', port: 8081 }, domain: 'd', descriptors: [] } } },
  }));
  add('invalid', 'UpstreamTrafficSetting', 'no host', uts({ host: undefined }));
  add('invalid', 'UpstreamTrafficSetting', 'unit day', uts({ rateLimit: { local: { http: { ...limit, unit: 'day' } } } }));
  add('invalid', 'UpstreamTrafficSetting', 'status 302', uts({ rateLimit: { local: { http: { ...limit, responseStatusCode: 302 } } } }), 'spec.rateLimit.local.http.responseStatusCode');
  add('invalid', 'UpstreamTrafficSetting', 'status 600', uts({ rateLimit: { local: { http: { ...limit, responseStatusCode: 600 } } } }));
  add('invalid', 'UpstreamTrafficSetting', 'negative maxConnections', uts({ connectionSettings: { tcp: { maxConnections: -1 } } }));
  add('invalid', 'UpstreamTrafficSetting', 'connectTimeout "soon"', uts({ connectionSettings: { tcp: { connectTimeout: 'soon' } } }));
  add('invalid', 'UpstreamTrafficSetting', 'a route without path', uts({ httpRoutes: [{ rateLimit: { local: { requests: 1, unit: 'second' } } }] }));
  add('invalid', 'UpstreamTrafficSetting', 'a header without value', uts({
    rateLimit: { local: { http: { ...limit, responseHeadersToAdd: [{ name: 'x' }] } } },
  }));

  // MeshConfig
  const mc = (over: Spec = {}): Spec => ({
    traffic: {
      enablePermissiveTrafficPolicyMode: false,
      enableEgress: true,
      outboundPortExclusionList: [6379],
      inboundPortExclusionList: [],
      outboundIPRangeExclusionList: ['169.254.169.254/32'],
    },
    certificate: { serviceCertValidityDuration: '24h', trustDomain: 'cluster.local' },
    sidecar: { logLevel: 'Error', enablePrivilegedInitContainer: false },
    observability: { enableDebugServer: true },
    ...over,
  });
  add('valid', 'MeshConfig', "the fields Weft reads and OSM fields it does not (kept)", mc());
  add('valid', 'MeshConfig', 'no spec', undefined);
  add('invalid', 'MeshConfig', 'a zero certificate validity', mc({ certificate: { serviceCertValidityDuration: '0h0m' } }));
  add('invalid', 'MeshConfig', 'certificate validity "1 day"', mc({ certificate: { serviceCertValidityDuration: '1 day' } }));
  add('invalid', 'MeshConfig', 'logLevel verbose', mc({ sidecar: { logLevel: 'verbose' } }));
  add('invalid', 'MeshConfig', 'permissive mode as a string', mc({ traffic: { enablePermissiveTrafficPolicyMode: 'true' } }));
  add('invalid', 'MeshConfig', 'an excluded port 0', mc({ traffic: { outboundPortExclusionList: [0] } }));
  add('invalid', 'MeshConfig', 'an excluded range that is not a CIDR', mc({ traffic: { outboundIPRangeExclusionList: ['169.254.169.254'] } }));

  // Unknown fields: a typo. kubectl's strict field validation refuses them; the model ignores them.
  add('schemaOnly', 'TrafficSplit', 'a misspelt field (weigth)', ts({ backends: [{ service: 'shop-v1', weight: 1, weigth: 1 }] }), 'weigth');
  add('schemaOnly', 'Retry', 'a misspelt field (retryOnn)', rt({}, { retryOnn: '5xx' }), 'retryOnn');
  return cases;
}
