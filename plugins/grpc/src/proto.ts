/**
 * Building and encoding Envoy messages. Translators build trees typed by the generated Envoy interfaces
 * (`envoy.*` from @weft/core: protobufjs object form, camelCase fields, enums by name), nested Anys written
 * `{ '@type': <type URL>, ...fields }` by `anyOf`, which types the content by its URL; each tree is
 * encoded once, by `encode`.
 */

export const T = {
  HCM: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  HttpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  HttpRbacPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  UpstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
} as const;

// The typed builders are core's, shared with the Envoy adapter; named here as the translators use them.
export {
  ADS_SOURCE as ADS,
  anyOf,
  durationOfMs as durationMs,
  encodeTyped as encode,
  typedFilter as filter,
  u32Value as u32,
  type EnvoyTypeUrl,
} from '@weft/core';

export { encodedResourceHash as hashResource, hashResourceSet as hashSet, toResourceSet as toSet } from '@weft/core';
