/**
 * Server side: what an xDS-enabled gRPC server (`XdsServer.bindAsync("<ip>:<port>")`) asks for. A Listener
 * named from the bootstrap's server_listener_resource_name_template, whose one filter chain carries an
 * HttpConnectionManager with its routes over ADS, the RBAC filter (deny by default) and the router last,
 * and, in mTLS mode, a DownstreamTlsContext requiring a client certificate through the certificate
 * provider instances of the bootstrap.
 *
 * Authorization lives in the route configuration, not the listener: each route allowed by a TrafficTarget
 * carries a per-route RBAC policy naming the sources' SPIFFE ids; whatever no route admits falls through to a
 * last route under the deny-all filter and ends with PERMISSION_DENIED. A policy change therefore updates
 * RDS only, and a gRPC server applies it to its open connections without draining them.
 */
import { TypeUrl, type DerivationSpec, type EncodedResource } from '@weft/core';
import { routeMatch } from './client.js';
import { inboundPolicy, meshSettings } from './mesh.js';
import { RBAC_FILTER_NAME, ROUTER_FILTER_NAME, serverListenerName, serverRouteName, spiffeIdOf } from './names.js';
import { ADS, T, encode, hashResource, typedAny, type Msg } from './proto.js';

export interface ServerOptions {
  readonly mtls: boolean;
  readonly certProvider: string;
  readonly listenerTemplate: string;
}

export function downstreamTls(certProvider: string): Msg {
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: typedAny(T.DownstreamTls, {
      commonTlsContext: {
        tlsCertificateProviderInstance: { instanceName: certProvider },
        validationContext: { caCertificateProviderInstance: { instanceName: certProvider } },
      },
      requireClientCertificate: { value: true },
    }),
  };
}

export function serverListener(identity: string, ip: string, port: number, options: ServerOptions): DerivationSpec<EncodedResource> {
  return {
    id: `grpc/lds/server/${ip}:${port}@${identity}#${options.mtls ? options.certProvider : 'plaintext'}#${options.listenerTemplate}`,
    hash: hashResource,
    compute(r) {
      const { permissive } = r.derive(meshSettings);
      const httpFilters: Msg[] = [];
      // Deny unless a route's per-route policy allows: the default for every path no TrafficTarget admits.
      if (!permissive) httpFilters.push({ name: RBAC_FILTER_NAME, typedConfig: typedAny(T.HttpRbac, { rules: { action: 'ALLOW' } }) });
      httpFilters.push({ name: ROUTER_FILTER_NAME, typedConfig: typedAny(T.Router, {}) });
      const hcm = {
        statPrefix: `inbound_${port}`,
        rds: { configSource: ADS, routeConfigName: serverRouteName(identity, port) },
        httpFilters,
      };
      const chain: Msg = {
        name: `inbound|${port}`,
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: typedAny(T.HCM, hcm) }],
      };
      if (options.mtls) chain.transportSocket = downstreamTls(options.certProvider);
      const name = serverListenerName(ip, port, options.listenerTemplate);
      return encode(TypeUrl.Listener, name, { name, address: { socketAddress: { address: ip, portValue: port } }, filterChains: [chain] });
    },
  };
}

export function serverRoutes(identity: string, port: number): DerivationSpec<EncodedResource> {
  return {
    id: `grpc/rds/server/${port}@${identity}`,
    hash: hashResource,
    compute(r) {
      const { permissive, trustDomain } = r.derive(meshSettings);
      const routes: Msg[] = [];
      if (!permissive) {
        for (const rule of r.derive(inboundPolicy(identity)).rules) {
          if (rule.sources.length === 0 || (rule.ports !== null && !rule.ports.includes(port))) continue;
          const principals = rule.sources.map((s) => ({ authenticated: { principalName: { exact: spiffeIdOf(s, trustDomain) } } }));
          const perRoute = typedAny(T.HttpRbacPerRoute, {
            rbac: { rules: { action: 'ALLOW', policies: { [rule.name]: { permissions: [{ any: true }], principals } } } },
          });
          routes.push({
            name: rule.name,
            match: routeMatch({ pathRegex: rule.pathRegex, headers: Object.fromEntries(rule.headers) }),
            nonForwardingAction: {},
            typedPerFilterConfig: { [RBAC_FILTER_NAME]: perRoute },
          });
        }
      }
      routes.push({ name: permissive ? 'permissive' : 'deny', match: { prefix: '' }, nonForwardingAction: {} });
      const name = serverRouteName(identity, port);
      return encode(TypeUrl.RouteConfiguration, name, { name, virtualHosts: [{ name: `inbound|${identity}`, domains: ['*'], routes }] });
    },
  };
}
