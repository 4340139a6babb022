/** Every validation rule, with the exact message a user sees. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests } from './parse.js';
import { ManifestError } from './errors.js';
import { WeftError } from '../errors.js';

interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly errors: readonly string[];
}

const SPLIT = (backends: string): string => `apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: bookstore-split, namespace: bookstore}
spec:
  service: bookstore
  backends: ${backends}
`;

const TARGET = (spec: string): string => `apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: t, namespace: bookstore}
spec:
${spec}`;

const KEY_RULE =
  'the key must be a qualified name: an optional prefix (a lower-case DNS subdomain of at most 253 characters) and "/", ' +
  "then a name of 1 to 63 characters (letters, digits, '-', '_', '.'; beginning and ending with a letter or digit), " +
  'as in "app" or "example.com/app"';
const VALUE_RULE =
  "the value must be empty or 1 to 63 characters (letters, digits, '-', '_', '.'; beginning and ending with a letter or digit)";

const cases: readonly Case[] = [
  {
    name: 'YAML syntax error names the line',
    yaml: 'apiVersion: v1\nkind: ServiceAccount\nkind: Service\n---\na:\n\t- b\n',
    errors: [
      'f.yaml document 0: YAML syntax error at line 3, column 1: Map keys must be unique',
      'f.yaml document 1: YAML syntax error at line 6, column 1: Tabs are not allowed as indentation',
    ],
  },
  {
    name: 'broken JSON is reported with its line (JSON is read as YAML on the error path)',
    yaml: '{"apiVersion": "v1",\n "kind": "ServiceAccount",\n "metadata": {"name": "a"\n',
    errors: [
      'f.yaml document 0: YAML syntax error at line 4, column 1: Flow map in block collection must be sufficiently indented and end with a }',
      'f.yaml document 0: YAML syntax error at line 4, column 1: Flow map must end with a }',
    ],
  },
  {
    name: 'unknown apiVersion of a known kind lists the supported one',
    yaml: SPLIT('[{service: a, weight: 1}]').replace('v1alpha2', 'v1alpha4'),
    errors: [
      'f.yaml document 0 (TrafficSplit bookstore/bookstore-split): apiVersion: must be split.smi-spec.io/v1alpha2 for kind TrafficSplit, got "split.smi-spec.io/v1alpha4"',
    ],
  },
  {
    name: 'TrafficSplit weights: negative, fractional, quoted',
    yaml: SPLIT('[{service: a, weight: 50}, {service: b, weight: -5}, {service: c, weight: 1.5}, {service: d, weight: "5"}]'),
    errors: [
      'f.yaml document 0 (TrafficSplit bookstore/bookstore-split): spec.backends[1].weight: must be a non-negative integer, got -5',
      'f.yaml document 0 (TrafficSplit bookstore/bookstore-split): spec.backends[2].weight: must be a non-negative integer, got 1.5',
      'f.yaml document 0 (TrafficSplit bookstore/bookstore-split): spec.backends[3].weight: must be a non-negative integer, got "5"',
    ],
  },
  {
    name: 'TrafficSplit apex in another namespace',
    yaml: SPLIT('[{service: a, weight: 1}]').replace('service: bookstore\n', 'service: bookstore.other.svc.cluster.local\n'),
    errors: [
      'f.yaml document 0 (TrafficSplit bookstore/bookstore-split): spec.service: must be a service in the TrafficSplit\'s namespace "bookstore", got "bookstore.other.svc.cluster.local"',
    ],
  },
  {
    name: 'TrafficSplit without backends',
    yaml: SPLIT('[]'),
    errors: ['f.yaml document 0 (TrafficSplit bookstore/bookstore-split): spec.backends: must list at least one entry'],
  },
  {
    name: 'TrafficTarget without destination',
    yaml: TARGET('  sources: [{kind: ServiceAccount, name: a, namespace: b}]\n'),
    errors: ['f.yaml document 0 (TrafficTarget bookstore/t): spec.destination: is required'],
  },
  {
    name: 'TrafficTarget destination of another kind',
    yaml: TARGET(
      '  destination: {kind: Group, name: admins, namespace: bookstore}\n  sources: [{kind: ServiceAccount, name: a}]\n',
    ),
    errors: [
      'f.yaml document 0 (TrafficTarget bookstore/t): spec.destination.kind: must be one of ServiceAccount, got "Group"',
    ],
  },
  {
    name: 'TrafficTarget destination in another namespace, no sources',
    yaml: TARGET('  destination: {kind: ServiceAccount, name: x, namespace: other}\n  sources: []\n'),
    errors: [
      'f.yaml document 0 (TrafficTarget bookstore/t): spec.destination.namespace: must be the TrafficTarget\'s own namespace "bookstore", got "other"',
      'f.yaml document 0 (TrafficTarget bookstore/t): spec.sources: must list at least one entry',
    ],
  },
  {
    name: 'missing metadata.name',
    yaml: 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  namespace: bookstore\n',
    errors: ['f.yaml document 0 (ServiceAccount bookstore/<unnamed>): metadata.name: is required'],
  },
  {
    name: 'missing metadata altogether, namespace defaulted in the message',
    yaml: 'apiVersion: v1\nkind: Service\n',
    errors: ['f.yaml document 0 (Service default/<unnamed>): metadata: is required'],
  },
  {
    name: 'names must be RFC 1123',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: Book_Store, namespace: Books}\n',
    errors: [
      'f.yaml document 0 (Service Books/Book_Store): metadata.name: must be a lower-case RFC 1123 label (a-z, 0-9, \'-\', at most 63 characters), got "Book_Store"',
      'f.yaml document 0 (Service Books/Book_Store): metadata.namespace: must be a lower-case RFC 1123 label (a-z, 0-9, \'-\', at most 63 characters), got "Books"',
    ],
  },
  {
    name: 'label values must be strings',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {version: 2}\n',
    errors: [
      'f.yaml document 0 (Pod default/p): metadata.labels["version"]: must be a string, got 2 (quote it in YAML)',
    ],
  },
  {
    name: 'label keys and values follow the Kubernetes rules, and the error names the entry',
    yaml: `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    "bad key!": "v@l ue"
    app: bookstore
    empty: ""
    example.com/tier: web_1.x-Y
    Example.com/tier: web
    /tier: web
    a/b/c: web
    -lead: web
    ${'n'.repeat(63)}: ${'v'.repeat(63)}
    ${'n'.repeat(64)}: ${'v'.repeat(64)}
    ${'p'.repeat(254)}/x: web
`,
    errors: [
      `f.yaml document 0 (Pod default/p): metadata.labels["-lead"]: ${KEY_RULE}, got "-lead" (its name part does not begin and end with a letter or digit)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["/tier"]: ${KEY_RULE}, got "/tier" (its prefix is empty)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["Example.com/tier"]: ${KEY_RULE}, got "Example.com/tier" (its prefix "Example.com" is not a lower-case DNS subdomain)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["a/b/c"]: ${KEY_RULE}, got "a/b/c" (it has more than one "/")`,
      `f.yaml document 0 (Pod default/p): metadata.labels["bad key!"]: ${KEY_RULE}, got "bad key!" (its name part has characters other than those)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["bad key!"]: ${VALUE_RULE}, got "v@l ue" (it has characters other than those)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["${'n'.repeat(64)}"]: ${KEY_RULE}, got "${'n'.repeat(64)}" (its name part is 64 characters long)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["${'n'.repeat(64)}"]: ${VALUE_RULE}, got "${'v'.repeat(64)}" (it is 64 characters long)`,
      `f.yaml document 0 (Pod default/p): metadata.labels["${'p'.repeat(254)}/x"]: ${KEY_RULE}, got "${'p'.repeat(254)}/x" (its prefix is 254 characters long)`,
    ],
  },
  {
    name: 'a Service selector follows the label rules',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {"app name": "book store", version: v1}\n',
    errors: [
      `f.yaml document 0 (Service default/s): spec.selector["app name"]: ${KEY_RULE}, got "app name" (its name part has characters other than those)`,
      `f.yaml document 0 (Service default/s): spec.selector["app name"]: ${VALUE_RULE}, got "book store" (it has characters other than those)`,
    ],
  },
  {
    name: 'annotation keys are qualified names in any case; annotation values are free',
    yaml: `apiVersion: v1
kind: ServiceAccount
metadata:
  name: a
  annotations:
    Example.COM/Note: "anything, even: spaces & symbols!"
    "bad key!": ""
    a/b/c: x
    count: 3
`,
    errors: [
      `f.yaml document 0 (ServiceAccount default/a): metadata.annotations["a/b/c"]: ${KEY_RULE}, got "a/b/c" (it has more than one "/")`,
      `f.yaml document 0 (ServiceAccount default/a): metadata.annotations["bad key!"]: ${KEY_RULE}, got "bad key!" (its name part has characters other than those)`,
      'f.yaml document 0 (ServiceAccount default/a): metadata.annotations["count"]: must be a string, got 3 (quote it in YAML)',
    ],
  },
  {
    name: 'annotations are at most 256 KiB in all',
    yaml: `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  annotations: {a: "${'x'.repeat(128 * 1024)}", b: "${'x'.repeat(128 * 1024)}"}\n`,
    errors: [
      'f.yaml document 0 (ServiceAccount default/a): metadata.annotations: must be at most 262144 bytes in all (keys and values), got 262146',
    ],
  },
  {
    name: 'invalid port numbers',
    yaml: `apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
    - {port: 0}
    - {port: 70000}
    - {port: 80, targetPort: 65536}
    - {name: no-port}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      ports: [{containerPort: "8080"}]
`,
    errors: [
      'f.yaml document 0 (Service default/s): spec.ports[0].port: must be a port number between 1 and 65535, got 0',
      'f.yaml document 0 (Service default/s): spec.ports[1].port: must be a port number between 1 and 65535, got 70000',
      'f.yaml document 0 (Service default/s): spec.ports[2].targetPort: must be a port number between 1 and 65535, got 65536',
      'f.yaml document 0 (Service default/s): spec.ports[3].port: is required',
      'f.yaml document 1 (Pod default/p): spec.containers[0].ports[0].containerPort: must be a port number between 1 and 65535, got "8080"',
    ],
  },
  {
    name: 'unknown appProtocol and L4 protocol',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80, appProtocol: h2c, protocol: tcp}]\n',
    errors: [
      'f.yaml document 0 (Service default/s): spec.ports[0].protocol: must be one of TCP, UDP, SCTP, got "tcp"',
      'f.yaml document 0 (Service default/s): spec.ports[0].appProtocol: must be one of http, tcp, grpc, tcp-server-first, https, got "h2c"',
    ],
  },
  {
    name: 'invalid regex in pathRegex and header values; bad method names; repeated match name',
    yaml: `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: bookstore}
spec:
  matches:
    - name: a
      pathRegex: "/books/(["
      methods: [GET, FETCH]
      headers:
        - user-agent: "*bad"
    - name: a
`,
    errors: [
      'f.yaml document 0 (HTTPRouteGroup bookstore/routes): spec.matches[0].pathRegex: must be a valid regular expression (Unterminated character class), got "/books/(["',
      'f.yaml document 0 (HTTPRouteGroup bookstore/routes): spec.matches[0].methods[1]: must be one of *, GET, HEAD, PUT, POST, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "FETCH"',
      'f.yaml document 0 (HTTPRouteGroup bookstore/routes): spec.matches[0].headers[0].user-agent: must be a valid regular expression (Nothing to repeat), got "*bad"',
      'f.yaml document 0 (HTTPRouteGroup bookstore/routes): spec.matches[1].name: must be unique within the route group, got "a" again',
    ],
  },
  {
    name: 'invalid durations',
    yaml: `apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: r, namespace: bookbuyer}
spec:
  source: {kind: ServiceAccount, name: bookbuyer}
  destinations: [{kind: Service, name: bookstore}]
  retryPolicy:
    retryOn: 5xx
    perTryTimeout: 1 second
    numRetries: -1
    retryBackoffBaseInterval: "-5s"
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: u, namespace: bookstore}
spec:
  host: bookstore.bookstore.svc.cluster.local
  connectionSettings:
    tcp: {connectTimeout: 5}
---
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  certificate: {serviceCertValidityDuration: 24hours}
`,
    errors: [
      'f.yaml document 0 (Retry bookbuyer/r): spec.retryPolicy.perTryTimeout: must be a duration such as "500ms", "1s" or "1h30m", got "1 second"',
      'f.yaml document 0 (Retry bookbuyer/r): spec.retryPolicy.numRetries: must be an integer between 0 and 4294967295, got -1',
      'f.yaml document 0 (Retry bookbuyer/r): spec.retryPolicy.retryBackoffBaseInterval: must be a duration such as "500ms", "1s" or "1h30m", got "-5s"',
      'f.yaml document 1 (UpstreamTrafficSetting bookstore/u): spec.connectionSettings.tcp.connectTimeout: must be a string, got 5',
      'f.yaml document 2 (MeshConfig osm-system/osm-mesh-config): spec.certificate.serviceCertValidityDuration: must be a duration such as "500ms", "1s" or "1h30m", got "24hours"',
    ],
  },
  {
    name: 'unknown Envoy retry conditions',
    yaml: `apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: r, namespace: bookbuyer}
spec:
  source: {kind: ServiceAccount, name: bookbuyer}
  destinations: [{kind: Service, name: bookstore}]
  retryPolicy: {retryOn: "5xx,5xxx"}
`,
    errors: [
      'f.yaml document 0 (Retry bookbuyer/r): spec.retryPolicy.retryOn: must be comma-separated Envoy retry conditions (5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable), got "5xxx"',
    ],
  },
  {
    name: 'invalid CIDRs in Egress and IngressBackend',
    yaml: `apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: e, namespace: curl}
spec:
  sources: [{kind: ServiceAccount, name: curl}]
  ipAddresses: [10.0.0.0, 10.0.0.0/33, "::/0"]
  ports: [{number: 443, protocol: udp}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: i, namespace: bookstore}
spec:
  backends: [{name: bookstore, port: {number: 14001, protocol: http}}]
  sources:
    - {kind: IPRange, name: 10.244.0.0}
    - {kind: Service, name: ingress}
    - {kind: Pod, name: x}
`,
    errors: [
      'f.yaml document 0 (Egress curl/e): spec.ipAddresses[0]: must be a CIDR range such as "10.0.0.0/8", got "10.0.0.0"',
      'f.yaml document 0 (Egress curl/e): spec.ipAddresses[1]: must be a CIDR range such as "10.0.0.0/8", got "10.0.0.0/33"',
      'f.yaml document 0 (Egress curl/e): spec.ports[0].protocol: must be one of http, https, tcp, tcp-server-first, got "udp"',
      'f.yaml document 1 (IngressBackend bookstore/i): spec.sources[0].name: must be a CIDR range such as "10.0.0.0/8", got "10.244.0.0"',
      'f.yaml document 1 (IngressBackend bookstore/i): spec.sources[1].namespace: is required',
      'f.yaml document 1 (IngressBackend bookstore/i): spec.sources[2].kind: must be one of Service, IPRange, AuthenticatedPrincipal, got "Pod"',
    ],
  },
  {
    name: 'rate limit rules',
    yaml: `apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: u, namespace: bookstore}
spec:
  host: bookstore
  rateLimit:
    local:
      http: {requests: 10, unit: day, responseStatusCode: 200}
      tcp: {unit: second}
`,
    errors: [
      'f.yaml document 0 (UpstreamTrafficSetting bookstore/u): spec.rateLimit.local.tcp.connections: is required',
      'f.yaml document 0 (UpstreamTrafficSetting bookstore/u): spec.rateLimit.local.http.unit: must be one of second, minute, hour, got "day"',
      'f.yaml document 0 (UpstreamTrafficSetting bookstore/u): spec.rateLimit.local.http.responseStatusCode: must be an HTTP error status between 400 and 599, got 200',
    ],
  },
  {
    name: 'documents without apiVersion or kind, and a scalar document',
    yaml: 'kind: Pod\nmetadata: {name: p}\n---\napiVersion: v1\nmetadata: {name: q}\n---\njust text\n',
    errors: [
      'f.yaml document 0 (Pod default/p): apiVersion: is required',
      'f.yaml document 1: kind: is required',
      'f.yaml document 2: must be an object with apiVersion and kind, got "just text"',
    ],
  },
  {
    name: 'the same resource twice in one file',
    yaml: 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: default}\n',
    errors: [
      'f.yaml document 1 (ServiceAccount default/a): repeats the ServiceAccount default/a of document 0; give each resource once per file',
    ],
  },
  {
    name: 'errors inside a List name the item',
    yaml: '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ok"}}, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {}}]}',
    errors: ['f.yaml document 0 (ServiceAccount default/<unnamed>): items[1].metadata.name: is required'],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const result = parseManifests(c.yaml, 'f.yaml');
    assert.deepEqual(
      result.errors.map((e) => e.message),
      c.errors,
    );
  });
}

test('a broken document does not keep the others of the file from loading, and all errors are reported', () => {
  const text = `apiVersion: v1
kind: ServiceAccount
metadata: {name: first, namespace: bookstore}
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: bookstore-split, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: v1, weight: -5}, {weight: 10}]
---
key: [broken
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: last, namespace: bookstore}
`;
  const result = parseManifests(text, 'bookstore.yaml');
  assert.deepEqual(
    result.resources.map((r) => r.key),
    ['bookstore/first', 'bookstore/last'],
  );
  assert.equal(result.errors.length, 3);
  assert.deepEqual(
    result.errors.map((e) => e.document),
    [1, 1, 2],
  );
  assert.equal(
    result.errors[0]!.message,
    'bookstore.yaml document 1 (TrafficSplit bookstore/bookstore-split): spec.backends[0].weight: must be a non-negative integer, got -5',
  );
  assert.equal(result.errors[1]!.path, 'spec.backends[1].service');
});

test('ManifestError carries its location as fields', () => {
  const result = parseManifests(SPLIT('[{service: a, weight: -5}]'), 'bookstore.yaml');
  const err = result.errors[0]!;
  assert.ok(err instanceof ManifestError);
  assert.ok(err instanceof WeftError);
  assert.equal(err.code, 'MANIFEST_INVALID');
  assert.equal(err.retriable, false);
  assert.equal(err.name, 'ManifestError');
  assert.equal(err.file, 'bookstore.yaml');
  assert.equal(err.document, 0);
  assert.equal(err.kind, 'TrafficSplit');
  assert.equal(err.namespace, 'bookstore');
  assert.equal(err.resourceName, 'bookstore-split');
  assert.equal(err.path, 'spec.backends[0].weight');
  assert.equal(err.rule, 'must be a non-negative integer, got -5');
  assert.equal(err.line, null);

  const syntax = parseManifests('a: 1\nb: 2\na: 3\n', 'x.yaml').errors[0]!;
  assert.equal(syntax.line, 3);
  assert.equal(syntax.kind, null);
});

test('ignored kinds come back as notices, not errors', () => {
  const result = parseManifests(
    'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: data}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n',
    'f.yaml',
  );
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.resources, []);
  assert.deepEqual(
    result.ignored.map((i) => [i.document, i.kind, i.namespace, i.name, i.reason]),
    [
      [0, 'StatefulSet', 'data', 'db', 'Weft does not expand StatefulSet templates into pods; list the Pods themselves'],
      [1, 'Secret', null, 's', 'not a kind the mesh reads'],
    ],
  );
});

test('empty input and comment-only documents yield nothing', () => {
  for (const text of ['', '# nothing\n', '---\n---\n']) {
    const r = parseManifests(text, 'f.yaml');
    assert.deepEqual([r.resources, r.errors, r.ignored], [[], [], []], JSON.stringify(text));
  }
});
