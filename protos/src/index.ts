import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** Directory holding Weft's own .proto files (weft/...). */
export const WEFT_PROTO_DIR = path.resolve(__dirname, '..');

/**
 * Include paths of the Envoy API and its imports. They ship inside @grpc/grpc-js-xds; depending on that
 * package is how Weft gets them without copying any .proto into the repository.
 */
export function envoyIncludeDirs(): string[] {
  const pkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const dirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(pkg, 'deps', d));
  // google/protobuf/descriptor.proto and friends ship with protobufjs itself.
  return [...dirs, path.dirname(require.resolve('protobufjs/package.json'))];
}

function loadRoot(files: readonly string[], includeDirs: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      try {
        fs.accessSync(candidate);
        return candidate;
      } catch {
        // not under this include dir; try the next one
      }
    }
    return target;
  };
  root.loadSync(files as string[], { keepCase: false });
  root.resolveAll();
  return root;
}

let weftRoot: protobuf.Root | undefined;
/** Weft's own messages (weft.event.v1.*). */
export function weftProtos(): protobuf.Root {
  weftRoot ??= loadRoot(['weft/event/v1/event.proto'], [WEFT_PROTO_DIR]);
  return weftRoot;
}

/** Every Envoy v3 message Weft produces or reads, with google.protobuf.Any and the ADS service. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/admin/v3/config_dump.proto',
  'google/protobuf/any.proto',
  'google/protobuf/wrappers.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/struct.proto',
];

let envoyRoot: protobuf.Root | undefined;
/**
 * The Envoy API as a protobufjs Root, loaded once per process. From the descriptor the build writes
 * (dist/envoy-descriptor.json, ~0.2 s) when it matches the installed protos; otherwise by parsing the .proto
 * files (~0.6 s), which is also how the descriptor is made.
 */
export function envoyProtos(): protobuf.Root {
  envoyRoot ??= loadEnvoyDescriptor() ?? parseEnvoyProtos();
  return envoyRoot;
}

/** Parses the Envoy .proto files shipped by @grpc/grpc-js-xds. */
export function parseEnvoyProtos(): protobuf.Root {
  const dirs = envoyIncludeDirs();
  const present = ENVOY_PROTO_FILES.filter((f) => dirs.some((d) => fs.existsSync(path.join(d, f))));
  return loadRoot(present, dirs);
}

export const ENVOY_DESCRIPTOR_FILE = path.join(__dirname, 'envoy-descriptor.json');

/**
 * What the descriptor was made from: the file list and the versions of the packages holding the protos and
 * the parser. A descriptor made from anything else is ignored, so it can never serve stale types.
 */
function descriptorKey(): string {
  const version = (pkg: string): string => (JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
  return JSON.stringify({ files: ENVOY_PROTO_FILES, xds: version('@grpc/grpc-js-xds'), protobufjs: version('protobufjs') });
}

/** Writes the descriptor (run by the build); returns its path. */
export function writeEnvoyDescriptor(file = ENVOY_DESCRIPTOR_FILE): string {
  const root = parseEnvoyProtos();
  fs.writeFileSync(file, JSON.stringify({ key: descriptorKey(), root: root.toJSON() }));
  return file;
}

function loadEnvoyDescriptor(file = ENVOY_DESCRIPTOR_FILE): protobuf.Root | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined; // not built yet: parse the .proto files instead
  }
  const parsed = JSON.parse(text) as { key?: string; root?: protobuf.INamespace };
  if (parsed.key !== descriptorKey() || parsed.root === undefined) return undefined;
  const root = protobuf.Root.fromJSON(parsed.root);
  root.resolveAll();
  return root;
}

/** Looks up a message type by its full name or by a type URL ("type.googleapis.com/<name>"). */
export function envoyType(nameOrTypeUrl: string): protobuf.Type {
  const name = nameOrTypeUrl.startsWith('type.googleapis.com/')
    ? nameOrTypeUrl.slice('type.googleapis.com/'.length)
    : nameOrTypeUrl;
  return envoyProtos().lookupType(name);
}

export type * from './envoy-types.js';
