/**
 * Building and encoding Envoy messages. Translators write plain trees in protobufjs object form (camelCase
 * fields, enums by name) with nested Any values written as `{ '@type': <type URL>, ...fields }`, which is
 * also the proto3 JSON form of Any: the tree a translator builds is the readable dump shown in goldens and
 * config dumps, and core's encodeResource checks its field names and turns it into bytes once.
 */
export const T = {
  HCM: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  HttpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  HttpRbacPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  UpstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
} as const;

export {
  ADS_CONFIG_SOURCE as ADS,
  durationMs,
  encodeResource as encode,
  encodedResourceHash as hashResource,
  hashResourceSet as hashSet,
  toResourceSet as toSet,
  typedAny,
  u32,
  type Msg,
} from '@weft/core';
