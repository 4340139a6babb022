/**
 * Server side: what an xDS-enabled gRPC server (`XdsServer.bindAsync("<ip>:<port>")`) asks for. A Listener
 * named from the bootstrap's server_listener_resource_name_template, whose one filter chain carries an
 * HttpConnectionManager (routes over ADS, the RBAC filter, the router last) and, in mTLS mode, a
 * DownstreamTlsContext requiring a client certificate through the bootstrap's certificate provider instance.
 *
 * Authorization is the listener's RBAC filter: one ALLOW policy per TrafficTarget rule (the rule's path and
 * header matches as permissions, the sources' SPIFFE ids as principals); whatever no policy admits ends
 * with PERMISSION_DENIED. Per-route RBAC overrides in RDS would spare the listener an update on a policy
 * change, but grpc-js-xds 1.14 never applies RBACPerRoute (its filter registry knows only the top-level type
 * URL), so the policy goes where every gRPC implementation reads it. On a listener update a gRPC server
 * drains its connections (GOAWAY) and clients reconnect under the new policy; in-flight calls finish.
 */
import { TypeUrl, meshSettings, type DerivationSpec, type EncodedResource, type envoy } from '@weft/core';
import { inboundPolicy, type InboundRule } from './mesh.js';
import { RBAC_FILTER_NAME, ROUTER_FILTER_NAME, serverListenerName, serverRouteName, spiffeIdOf } from './names.js';
import { ADS, T, anyOf, encode, filter, hashResource } from './proto.js';

export interface ServerOptions {
  readonly mtls: boolean;
  readonly certProvider: string;
  readonly listenerTemplate: string;
}

export function downstreamTls(certProvider: string): envoy.config.core.v3.TransportSocket {
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: anyOf(T.DownstreamTls, {
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
      const { permissive, trustDomain } = r.derive(meshSettings);
      const httpFilters: envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter[] = [];
      if (!permissive) {
        const policies: Record<string, envoy.config.rbac.v3.Policy> = {};
        for (const rule of r.derive(inboundPolicy(identity)).rules) {
          if (rule.sources.length === 0 || (rule.ports !== null && !rule.ports.includes(port))) continue;
          policies[rule.name] = rbacPolicy(rule, trustDomain);
        }
        // ALLOW with no matching policy denies: the default for every call no TrafficTarget admits.
        const rules: envoy.config.rbac.v3.RBAC = Object.keys(policies).length === 0 ? { action: 'ALLOW' } : { action: 'ALLOW', policies };
        httpFilters.push(filter(RBAC_FILTER_NAME, T.HttpRbac, { rules }));
      }
      httpFilters.push(filter(ROUTER_FILTER_NAME, T.Router, {}));
      const hcm: envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager = {
        statPrefix: `inbound_${port}`,
        rds: { configSource: ADS, routeConfigName: serverRouteName(identity, port) },
        httpFilters,
      };
      const chain: envoy.config.listener.v3.FilterChain = {
        name: `inbound|${port}`,
        filters: [filter('envoy.filters.network.http_connection_manager', T.HCM, hcm)],
      };
      if (options.mtls) chain.transportSocket = downstreamTls(options.certProvider);
      const name = serverListenerName(ip, port, options.listenerTemplate);
      return encode(TypeUrl.Listener, name, { name, address: { socketAddress: { address: ip, portValue: port } }, filterChains: [chain] });
    },
  };
}

/** A server's routes: every call is served here (non-forwarding); the listener's RBAC filter decides. */
export function serverRoutes(identity: string, port: number): DerivationSpec<EncodedResource> {
  return {
    id: `grpc/rds/server/${port}@${identity}`,
    hash: hashResource,
    compute() {
      const name = serverRouteName(identity, port);
      const routes: envoy.config.route.v3.Route[] = [{ name: 'inbound', match: { prefix: '' }, nonForwardingAction: {} }];
      return encode(TypeUrl.RouteConfiguration, name, { name, virtualHosts: [{ name: `inbound|${identity}`, domains: ['*'], routes }] });
    },
  };
}

/** One TrafficTarget rule as an RBAC policy: its path and headers as permissions, its sources as principals. */
export function rbacPolicy(rule: InboundRule, trustDomain: string): envoy.config.rbac.v3.Policy {
  const conditions: envoy.config.rbac.v3.Permission[] = [];
  if (rule.pathRegex !== null) conditions.push({ urlPath: { path: { safeRegex: { regex: rule.pathRegex } } } });
  for (const [name, regex] of rule.headers) conditions.push({ header: { name, stringMatch: { safeRegex: { regex } } } });
  const permission: envoy.config.rbac.v3.Permission = conditions.length === 0 ? { any: true } : conditions.length === 1 ? (conditions[0] as envoy.config.rbac.v3.Permission) : { andRules: { rules: conditions } };
  return {
    permissions: [permission],
    principals: rule.sources.map((s): envoy.config.rbac.v3.Principal => ({ authenticated: { principalName: { exact: spiffeIdOf(s, trustDomain) } } })),
  };
}
