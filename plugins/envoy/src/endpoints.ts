/**
 * EDS: a ClusterLoadAssignment holds only the endpoints the caller may reach, so a split backend or a
 * service shared by several identities never leaks an address the caller's policy does not allow.
 *
 * Two derivations: a per-caller one that filters the service's endpoints by the caller's policy (cheap),
 * and an encoding addressed by its content (cluster name and a digest of the allowed addresses). Callers
 * allowed the same endpoints, the usual case, then share one encoding, one Any and one version, and an
 * endpoint change encodes each distinct assignment once rather than once per calling identity. The
 * encoding reads nothing from the mesh, so it is never invalidated: a caller whose addresses change
 * derives another one, and the engine frees the old one when its last caller moves off it.
 */
import { createHash } from 'node:crypto';
import { TypeUrl, allowedDestinations, type DerivationSpec, type EncodedResource, type envoy } from '@weft/core';
import { splitKey, upstreamClusterName } from './names.js';
import { encode, hashResource, u32 } from './proto.js';

/** Id prefix of the shared, content-addressed encodings (tests count their computes). */
export const CLA_ENCODING_PREFIX = 'envoy/cla-encoded/';

/** `caller` is "ns/sa", or "*" when every endpoint is reachable (permissive mode). */
export function loadAssignment(svcKey: string, targetPort: number, caller: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/cla/${svcKey}|${targetPort}@${caller}`,
    hash: hashResource,
    compute(r) {
      const allowed = caller === '*' ? null : r.derive(allowedDestinations(caller));
      const ips = new Set<string>();
      for (const subset of r.get('Endpoints', svcKey)?.subsets ?? []) {
        if (!subset.ports.some((p) => p.port === targetPort)) continue;
        for (const addr of subset.addresses) {
          if (allowed !== null) {
            // An address whose workload is unknown cannot be tied to an identity, so policy cannot allow it.
            const w = addr.workload === null ? undefined : r.get('Workload', addr.workload);
            if (w === undefined || !allowed.includes(`${w.meta.namespace}/${w.serviceAccount}`)) continue;
          }
          ips.add(addr.ip);
        }
      }
      const [ns, svc] = splitKey(svcKey);
      return r.derive(encodedAssignment(upstreamClusterName(ns, svc, targetPort), targetPort, [...ips].sort())).resource;
    },
  };
}

/**
 * Boxed so that the per-caller derivation, the one that read the endpoints and the policy, stays the
 * innermost derivation whose value is the resource: config dumps and replay's explain find a resource's
 * producer that way and trace its reads to the log events behind it; this derivation reads nothing.
 */
interface SharedEncoding {
  readonly resource: EncodedResource;
}

/** The encoding of one assignment, identified by what it encodes; `ips` sorted and unique. */
function encodedAssignment(name: string, targetPort: number, ips: readonly string[]): DerivationSpec<SharedEncoding> {
  // Addresses never hold a newline, so the joined list stands for the list itself.
  const digest = createHash('sha256').update(ips.join('\n')).digest('base64url');
  return {
    id: `${CLA_ENCODING_PREFIX}${name}#${digest}`,
    hash: (v) => hashResource(v.resource),
    compute() {
      const lbEndpoints = ips.map((ip): envoy.config.endpoint.v3.LbEndpoint => ({
        endpoint: { address: { socketAddress: { address: ip, portValue: targetPort } } },
        loadBalancingWeight: u32(1),
      }));
      const resource = encode(TypeUrl.ClusterLoadAssignment, name, {
        clusterName: name,
        endpoints: lbEndpoints.length === 0 ? [] : [{ locality: { zone: 'zone' }, lbEndpoints, loadBalancingWeight: u32(100) }],
      });
      return { resource };
    },
  };
}
