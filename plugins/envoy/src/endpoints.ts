/**
 * EDS: a ClusterLoadAssignment holds only the endpoints the caller may reach, so a split backend or a
 * service shared by several identities never leaks an address the caller's policy does not allow.
 */
import { TypeUrl, allowedDestinations, type DerivationSpec, type EncodedResource, type envoy } from '@weft/core';
import { splitKey, upstreamClusterName } from './names.js';
import { encode, hashResource, u32 } from './proto.js';

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
      const name = upstreamClusterName(ns, svc, targetPort);
      const lbEndpoints = [...ips].sort().map((ip): envoy.config.endpoint.v3.LbEndpoint => ({
        endpoint: { address: { socketAddress: { address: ip, portValue: targetPort } } },
        loadBalancingWeight: u32(1),
      }));
      return encode(TypeUrl.ClusterLoadAssignment, name, {
        clusterName: name,
        endpoints: lbEndpoints.length === 0 ? [] : [{ locality: { zone: 'zone' }, lbEndpoints, loadBalancingWeight: u32(100) }],
      });
    },
  };
}
