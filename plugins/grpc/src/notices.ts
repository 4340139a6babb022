/**
 * Policies a gRPC workload cannot carry out. Weft must not drop them silently: each one becomes a notice
 * naming the policy, which the adapter logs as a warning naming the proxy, once per policy version.
 * Computing the notices is pure (a derivation); only the logging is a side effect, at the adapter's edge.
 */
import { calledServices, contentHash, upstreamSetting, type DerivationSpec, type Reader } from '@weft/core';
import { splitRetryOn } from './client.js';
import { inboundPolicy, type ProxyShape } from './mesh.js';

export interface Notice {
  /** "<Kind> <namespace>/<name>" of the policy. */
  readonly policy: string;
  /** Content hash of the policy: a new version of it is reported again. */
  readonly version: string;
  readonly message: string;
}

function notice(r: Reader, kind: 'Retry' | 'Egress' | 'UpstreamTrafficSetting' | 'IngressBackend' | 'TrafficTarget', key: string, message: string): Notice | null {
  const body = r.get(kind, key);
  return body === undefined ? null : { policy: `${kind} ${key}`, version: contentHash(body), message };
}

export function proxyNotices(shape: ProxyShape): DerivationSpec<readonly Notice[]> {
  return {
    id: `grpc/notices@${shape.identity}#${shape.services.join(',')}`,
    compute(r) {
      const out: (Notice | null)[] = [];
      const caller = shape.identity;
      for (const ek of r.lookup('egressesBySource', caller)) {
        out.push(notice(r, 'Egress', ek, 'proxyless gRPC has no egress path; calls to hosts outside the mesh are not routed or allowed by this policy'));
      }
      for (const rk of r.lookup('retriesBySource', caller)) {
        const retry = r.get('Retry', rk);
        if (retry === undefined) continue;
        const { codes, unsupported } = splitRetryOn(retry.retryPolicy.retryOn);
        if (unsupported.length > 0) {
          out.push(notice(r, 'Retry', rk, `retryOn ${unsupported.map((u) => `"${u}"`).join(', ')} is not a gRPC status code gRPC retries on (${codes.length > 0 ? `kept: ${codes.join(',')}` : 'no retry policy is sent'}); use cancelled, deadline-exceeded, internal, resource-exhausted or unavailable`));
        }
        if (retry.retryPolicy.perTryTimeoutMs !== null) {
          out.push(notice(r, 'Retry', rk, 'perTryTimeout is ignored by gRPC clients (only status codes, the number of retries and the backoff apply)'));
        }
      }
      for (const svc of r.derive(calledServices(caller))) {
        const s = r.derive(upstreamSetting(svc));
        const tcp = s?.connectionSettings?.tcp ?? null;
        const http = s?.connectionSettings?.http ?? null;
        if (s === null) continue;
        const ignored = [
          tcp?.maxConnections != null ? 'tcp.maxConnections' : null,
          tcp?.connectTimeoutMs != null ? 'tcp.connectTimeout' : null,
          http?.maxPendingRequests != null ? 'http.maxPendingRequests' : null,
          http?.maxRetries != null ? 'http.maxRetries' : null,
          http?.maxRequestsPerConnection != null ? 'http.maxRequestsPerConnection' : null,
        ].filter((x): x is string => x !== null);
        if (ignored.length > 0) {
          out.push(notice(r, 'UpstreamTrafficSetting', `${s.meta.namespace}/${s.meta.name}`, `connectionSettings ${ignored.join(', ')} cannot be expressed for gRPC clients (only http.maxRequests, as circuit breaking)`));
        }
      }
      for (const svc of shape.services) {
        const s = r.derive(upstreamSetting(svc));
        if (s !== null && (s.rateLimit?.tcp != null || s.rateLimit?.http != null || s.httpRoutes.some((h) => h.rateLimit !== null))) {
          out.push(notice(r, 'UpstreamTrafficSetting', `${s.meta.namespace}/${s.meta.name}`, 'local rate limits are not enforced by xDS-enabled gRPC servers'));
        }
        for (const ik of r.lookup('ingressBackendsByService', svc)) {
          out.push(notice(r, 'IngressBackend', ik, 'ingress to proxyless gRPC servers is not configured by Weft; the IngressBackend has no effect on this server'));
        }
      }
      if (shape.workload !== null) {
        for (const u of r.derive(inboundPolicy(caller)).unmatchable) {
          out.push(notice(r, 'TrafficTarget', u.target, `match ${u.match} allows only ${u.methods.join(', ')}; every gRPC call is a POST, so it admits no gRPC call`));
        }
      }
      const seen = new Set<string>();
      return out
        .filter((n): n is Notice => n !== null)
        .filter((n) => {
          const k = `${n.policy}\u0000${n.message}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        })
        .sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : a.message < b.message ? -1 : 1));
    },
  };
}
