/**
 * Pre-encoding cost of one Istio-like upstream Cluster (EDS over ADS, upstream TLS through SDS, circuit
 * breakers, HTTP/2 protocol options in a typed extension map), three ways, side by side in one process:
 *
 * - protobufjs with core's `encodeResource`: the runtime field-name check, nested Anys packed, fromObject +
 *   encode, the Any envelope, the sha256 version (what untyped callers get);
 * - protobufjs with `encodeTypedResource`: the same without the field check, for trees typed by the
 *   generated interfaces in `@weft/protos` (types only), what the Envoy and gRPC adapters run;
 * - `checkFields` alone, the runtime walk the types replace;
 * - @bufbuild/protobuf v2 (protobuf-es), the full-runtime alternative: `create` + `toBinary` with the nested
 *   Anys packed by `anyPack`, plus the same sha256. protobuf-es v2's generated code is the file descriptors
 *   and types, its encoding is this reflection-based `toBinary`; the schemas here come from a registry built
 *   from the same Envoy descriptors (protoc is not needed), so the encoder is the one generated code runs.
 *
 *   npm run build && npm run bench:encode -w bench -- [--clusters 20000] [--rounds 3]
 */
import { createHash } from 'node:crypto';
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage, type FileRegistry, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema, FileDescriptorSetSchema, anyPack } from '@bufbuild/protobuf/wkt';
import { TypeUrl, checkFields, encodeResource, encodeTypedResource, envoyProtos, type TypedAny, type envoy } from '@weft/core';
import * as descriptor from 'protobufjs/ext/descriptor';
import { arg, cpuMs } from './util.js';

type Cluster = envoy.config.cluster.v3.Cluster;
type UpstreamTls = envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
type HttpOptions = envoy.extensions.upstreams.http.v3.HttpProtocolOptions;

const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** The adapters' object form, typed by the generated interfaces (the inline Anys cast as the typed helper does). */
function protobufjsCluster(i: number): Cluster {
  const ads = { ads: {}, resourceApiVersion: 'V3' } as const;
  const name = `ns${i % 50}/svc${i}|8080`;
  const tls: UpstreamTls = {
    commonTlsContext: {
      alpnProtocols: ['osm'],
      tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
      tlsCertificateSdsSecretConfigs: [{ name: `service-cert:ns${i % 50}/caller`, sdsConfig: ads }],
      validationContextSdsSecretConfig: { name: `root-cert-for-mtls-outbound:ns${i % 50}/svc${i}`, sdsConfig: ads },
    },
    sni: `svc${i}.ns${i % 50}.svc.cluster.local`,
  };
  const options: HttpOptions = { explicitHttpConfig: { http2ProtocolOptions: {} } };
  return {
    name,
    type: 'EDS',
    edsClusterConfig: { edsConfig: ads, serviceName: name },
    connectTimeout: { seconds: 1, nanos: 0 },
    lbPolicy: 'ROUND_ROBIN',
    transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: inlineAny(UPSTREAM_TLS, tls) },
    circuitBreakers: { thresholds: [{ maxConnections: { value: 100 }, maxRequests: { value: 200 } }] },
    typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': inlineAny(HTTP_OPTIONS, options) },
  };
}

function inlineAny(typeUrl: string, message: object): TypedAny {
  return { '@type': typeUrl, ...message } as unknown as TypedAny;
}

/**
 * A protobuf-es registry from the Envoy descriptors protobufjs loaded: one file per package (what protobufjs'
 * descriptor extension writes), given the imports it leaves out and ordered so every import comes first.
 */
function envoyRegistry(): FileRegistry {
  const set = (envoyProtos() as unknown as { toDescriptor(syntax: string): descriptor.IFileDescriptorSet }).toDescriptor('proto3');
  const bytes = descriptor.FileDescriptorSet.encode(set).finish();
  const fds = fromBinary(FileDescriptorSetSchema, bytes);
  const byPackage = new Map(fds.file.map((f) => [f.package, f]));
  const packages = [...byPackage.keys()].sort((a, b) => b.length - a.length);
  const owner = (typeName: string): string | undefined => packages.find((p) => typeName.startsWith(`${p}.`));
  // Every message and enum by full name, to resolve the names protobufjs leaves as written (`Value` in Struct).
  const known = new Set<string>();
  const collect = (scope: string, messages: (typeof fds.file)[number]['messageType'], enums: (typeof fds.file)[number]['enumType']): void => {
    for (const e of enums) known.add(`${scope}.${e.name}`);
    for (const m of messages) {
      known.add(`${scope}.${m.name}`);
      collect(`${scope}.${m.name}`, m.nestedType, m.enumType);
    }
  };
  for (const f of fds.file) collect(f.package, f.messageType, f.enumType);
  for (const f of fds.file) {
    const deps = new Set<string>();
    const refer = (scope: string, typeName: string): string => {
      let full = typeName.startsWith('.') ? typeName.slice(1) : typeName;
      // Proto scoping: the innermost enclosing scope that has the name.
      for (let s = scope; s !== ''; s = s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : '') {
        if (known.has(`${s}.${full}`)) {
          full = `${s}.${full}`;
          break;
        }
      }
      const p = owner(full);
      if (p !== undefined && p !== f.package) deps.add(byPackage.get(p)?.name ?? '');
      return `.${full}`;
    };
    const fix = (scope: string, field: (typeof fds.file)[number]['extension'][number]): void => {
      if (field.typeName !== '') field.typeName = refer(scope, field.typeName);
      if (field.extendee !== '') field.extendee = refer(scope, field.extendee);
    };
    const walk = (scope: string, messages: typeof f.messageType): void => {
      for (const m of messages) {
        // protobufjs copies extension fields into the extended message (FieldOptions gets `.validate.rules`);
        // they belong to the extending file, and here would make google.protobuf import its importers.
        m.field = m.field.filter((field) => !field.name.startsWith('.'));
        for (const field of [...m.field, ...m.extension]) fix(`${scope}.${m.name}`, field);
        walk(`${scope}.${m.name}`, m.nestedType);
      }
    };
    walk(f.package, f.messageType);
    for (const field of f.extension) fix(f.package, field);
    f.dependency = [...deps].sort();
  }
  const done = new Set<string>();
  const ordered: typeof fds.file = [];
  const byName = new Map(fds.file.map((f) => [f.name, f]));
  const visit = (name: string): void => {
    if (done.has(name)) return;
    done.add(name);
    const f = byName.get(name);
    if (f === undefined) return;
    for (const d of f.dependency) visit(d);
    ordered.push(f);
  };
  for (const f of fds.file) visit(f.name);
  fds.file = ordered;
  return createFileRegistry(fds);
}

function schema(registry: FileRegistry, name: string): DescMessage {
  const d = registry.getMessage(name);
  if (d === undefined) throw new Error(`${name} not in the registry`);
  return d;
}

function enumValue(name: string, value: string): number {
  const n = envoyProtos().lookupEnum(name).values[value];
  if (n === undefined) throw new Error(`${name}.${value} unknown`);
  return n;
}

function main(): void {
  const n = arg('clusters', 20000);
  const rounds = arg('rounds', 3);
  const registry = envoyRegistry();
  const ClusterSchema = schema(registry, 'envoy.config.cluster.v3.Cluster');
  const TlsSchema = schema(registry, 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  const OptionsSchema = schema(registry, 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
  const EDS = enumValue('envoy.config.cluster.v3.Cluster.DiscoveryType', 'EDS');
  const ROUND_ROBIN = enumValue('envoy.config.cluster.v3.Cluster.LbPolicy', 'ROUND_ROBIN');
  const V3 = enumValue('envoy.config.core.v3.ApiVersion', 'V3');
  const TLS12 = enumValue('envoy.extensions.transport_sockets.tls.v3.TlsParameters.TlsProtocol', 'TLSv1_2');
  const TLS13 = enumValue('envoy.extensions.transport_sockets.tls.v3.TlsParameters.TlsProtocol', 'TLSv1_3');

  // protobuf-es init shapes: oneofs as { case, value }, enums as numbers, int64 as bigint. Typed against
  // descriptors known only at run time, so written as plain init objects.
  const esCluster = (i: number): Uint8Array => {
    const ads = { configSourceSpecifier: { case: 'ads', value: {} }, resourceApiVersion: V3 };
    const name = `ns${i % 50}/svc${i}|8080`;
    const tls = create(TlsSchema, {
      commonTlsContext: {
        alpnProtocols: ['osm'],
        tlsParams: { tlsMinimumProtocolVersion: TLS12, tlsMaximumProtocolVersion: TLS13 },
        tlsCertificateSdsSecretConfigs: [{ name: `service-cert:ns${i % 50}/caller`, sdsConfig: ads }],
        validationContextType: { case: 'validationContextSdsSecretConfig', value: { name: `root-cert-for-mtls-outbound:ns${i % 50}/svc${i}`, sdsConfig: ads } },
      },
      sni: `svc${i}.ns${i % 50}.svc.cluster.local`,
    } as MessageInitShape<DescMessage>);
    const options = create(OptionsSchema, { upstreamProtocolOptions: { case: 'explicitHttpConfig', value: { protocolConfig: { case: 'http2ProtocolOptions', value: {} } } } } as MessageInitShape<DescMessage>);
    const cluster = create(ClusterSchema, {
      name,
      clusterDiscoveryType: { case: 'type', value: EDS },
      edsClusterConfig: { edsConfig: ads, serviceName: name },
      connectTimeout: { seconds: 1n, nanos: 0 },
      lbPolicy: ROUND_ROBIN,
      transportSocket: { name: 'envoy.transport_sockets.tls', configType: { case: 'typedConfig', value: anyPack(TlsSchema, tls) } },
      circuitBreakers: { thresholds: [{ maxConnections: 100, maxRequests: 200 }] },
      typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': anyPack(OptionsSchema, options) },
    } as MessageInitShape<DescMessage>);
    const any = toBinary(AnySchema, anyPack(ClusterSchema, cluster));
    createHash('sha256').update(any).digest('hex');
    return any;
  };

  const trees = Array.from({ length: n }, (_, i) => protobufjsCluster(i));
  const sizes = { protobufjs: encodeResource(TypeUrl.Cluster, 'x', trees[0] as object).any.length, es: esCluster(0).length };
  const results: Record<string, number[]> = {
    'protobufjs encodeResource (checked)': [],
    'protobufjs encodeTypedResource': [],
    'checkFields alone': [],
    'protobuf-es create + toBinary': [],
  };
  const time = (label: string, fn: (i: number) => void): void => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    results[label]?.push((cpuMs(t0) * 1000) / n);
  };
  // Warm up both (JIT, type caches), then alternate so machine load hits each alike.
  for (let i = 0; i < 2000; i++) {
    encodeResource(TypeUrl.Cluster, 'x', trees[i % n] as object);
    esCluster(i);
  }
  for (let r = 0; r < rounds; r++) {
    time('protobufjs encodeResource (checked)', (i) => encodeResource(TypeUrl.Cluster, `c${i}`, trees[i] as object));
    time('protobufjs encodeTypedResource', (i) => encodeTypedResource(TypeUrl.Cluster, `c${i}`, trees[i] as Cluster));
    time('checkFields alone', (i) => checkFields(TypeUrl.Cluster, trees[i]));
    time('protobuf-es create + toBinary', (i) => esCluster(i));
  }
  process.stdout.write(`${n} clusters x ${rounds} rounds; Any sizes: protobufjs ${sizes.protobufjs} B, protobuf-es ${sizes.es} B\n`);
  for (const [label, us] of Object.entries(results)) {
    process.stdout.write(`${label.padEnd(36)} ${us.map((u) => `${u.toFixed(2)} us`).join('  ')}  (CPU per cluster, each round)\n`);
  }
}

main();
