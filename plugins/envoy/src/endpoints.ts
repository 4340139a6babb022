/**
 * EDS: a ClusterLoadAssignment holds only the endpoints the caller may reach, so a split backend or a
 * service shared by several identities never leaks an address the caller's policy does not allow.
 *
 * Three derivations: a shared one per service port that reads the Endpoints and each address's Workload
 * once per change, a per-caller one that filters those addresses by the caller's policy (cheap), and an
 * encoding addressed by its content (cluster name and a digest of the allowed addresses). Callers
 * allowed the same endpoints, the usual case, then share one encoding, one Any and one version, and an
 * endpoint change encodes each distinct assignment once rather than once per calling identity. The
 * encoding reads nothing from the mesh, so it is never invalidated: a caller whose addresses change
 * derives another one, and the engine frees the old one when its last caller moves off it.
 */
import { hash } from 'node:crypto';
import { TypeUrl, allowedDestinations, type DerivationSpec, type EncodedResource, type envoy } from '@weft/core';
import { memoByValue } from './memo.js';
import { splitKey, upstreamClusterName } from './names.js';
import { encode, hashResource, u32 } from './proto.js';

/** Id prefix of the shared, content-addressed encodings (tests count their computes). */
export const CLA_ENCODING_PREFIX = 'envoy/cla-encoded/';

/** Id prefix of the per-service-port address lists every caller's assignment filters (tests count their computes). */
export const CLA_ADDRESSES_PREFIX = 'envoy/cla-addresses/';

/**
 * A service port's addresses as every caller sees them before policy: read once per endpoint change rather
 * than once per calling identity. `ips` (sorted, unique) and `digest` are what a caller allowed every
 * address, the usual case, encodes, so such a caller neither sorts nor hashes.
 */
interface ServiceAddresses {
  readonly name: string;
  readonly targetPort: number;
  readonly ips: readonly string[];
  /**
   * For each of `ips`, the identities ("ns/sa") of the workloads behind it. An address whose workload is
   * unknown cannot be tied to an identity, so it adds none and policy cannot allow it through that address.
   */
  readonly identities: readonly (readonly string[])[];
  readonly digest: string;
  /** Addresses and identities: the cut-off hash, so a workload change that moves no identity stops here. */
  readonly hash: string;
}

/** Addresses never hold a newline, so the joined list stands for the list itself. */
const ipsDigest = (ips: readonly string[]): string => hash('sha256', ips.join('\n'), 'base64url');

function serviceAddresses(svcKey: string, targetPort: number): DerivationSpec<ServiceAddresses> {
  return {
    id: `${CLA_ADDRESSES_PREFIX}${svcKey}|${targetPort}`,
    hash: (v) => v.hash,
    compute(r) {
      const byIp = new Map<string, string[]>();
      for (const subset of r.get('Endpoints', svcKey)?.subsets ?? []) {
        if (!subset.ports.some((p) => p.port === targetPort)) continue;
        for (const addr of subset.addresses) {
          let ids = byIp.get(addr.ip);
          if (ids === undefined) byIp.set(addr.ip, (ids = []));
          const w = addr.workload === null ? undefined : r.get('Workload', addr.workload);
          if (w !== undefined) ids.push(`${w.meta.namespace}/${w.serviceAccount}`);
        }
      }
      const ips = [...byIp.keys()].sort();
      const identities = ips.map((ip) => byIp.get(ip) ?? []);
      const [ns, svc] = splitKey(svcKey);
      const name = upstreamClusterName(ns, svc, targetPort);
      // Identities hold no newline, tab or space either: the joined lines stand for the lists.
      const lines = ips.map((ip, i) => `${ip}\t${identities[i]?.join(' ') ?? ''}`).join('\n');
      return { name, targetPort, ips, identities, digest: ipsDigest(ips), hash: hash('sha256', `${name}\n${lines}`, 'base64url') };
    },
  };
}

/** A caller's allowed identities as a set, built once per policy value rather than once per assignment. */
const allowedSet = memoByValue((allowed: readonly string[]): ReadonlySet<string> => new Set(allowed));

/** `caller` is "ns/sa", or "*" when every endpoint is reachable (permissive mode). */
export function loadAssignment(svcKey: string, targetPort: number, caller: string): DerivationSpec<EncodedResource | null> {
  // Built once with the spec, not on each recompute (one per caller on every endpoint change).
  const addresses = serviceAddresses(svcKey, targetPort);
  const destinations = caller === '*' ? null : allowedDestinations(caller);
  return {
    id: `envoy/cla/${svcKey}|${targetPort}@${caller}`,
    hash: hashResource,
    compute(r) {
      const all = r.derive(addresses);
      const allowed = destinations === null ? null : r.derive(destinations);
      const ips = allowed === null ? all.ips : allowedIps(all, allowedSet(allowed));
      // Nothing filtered out: the service's own list, digest and encoding are the caller's.
      const spec = ips === all.ips ? wholeAssignment(all) : encodedAssignment(all.name, all.targetPort, ips, ipsDigest(ips));
      return r.derive(spec).resource;
    },
  };
}

/** The encoding of every address of a service port, kept with the address list so its callers share one spec. */
const wholeAssignment = memoByValue((all: ServiceAddresses) => encodedAssignment(all.name, all.targetPort, all.ips, all.digest));

/**
 * The addresses a caller may reach, sorted and unique: `all.ips` itself when every one is allowed, so the
 * usual caller allocates nothing; otherwise a copy without the others.
 */
function allowedIps(all: ServiceAddresses, allowed: ReadonlySet<string>): readonly string[] {
  let out: string[] | null = null;
  for (let i = 0; i < all.ips.length; i++) {
    const ip = all.ips[i] as string;
    if (anyAllowed(all.identities[i] ?? [], allowed)) out?.push(ip);
    else out ??= all.ips.slice(0, i);
  }
  return out ?? all.ips;
}

function anyAllowed(identities: readonly string[], allowed: ReadonlySet<string>): boolean {
  for (const id of identities) if (allowed.has(id)) return true;
  return false;
}

/**
 * Boxed so that the per-caller derivation, the one that read the endpoints and the policy, stays the
 * innermost derivation whose value is the resource: config dumps and replay's explain find a resource's
 * producer that way and trace its reads to the log events behind it; this derivation reads nothing.
 */
interface SharedEncoding {
  readonly resource: EncodedResource;
}

/** The encoding of one assignment, identified by what it encodes; `ips` sorted and unique, `digest` theirs. */
function encodedAssignment(name: string, targetPort: number, ips: readonly string[], digest: string): DerivationSpec<SharedEncoding> {
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
