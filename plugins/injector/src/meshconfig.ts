/**
 * The MeshConfig whose spec.traffic exclusion lists the injector merges into every pod's iptables rules, read
 * from the API server at each injection (a pod created right after a MeshConfig change gets the new lists;
 * pods already running keep theirs, as under OSM). Listed cluster-wide, which Weft's RBAC already allows for
 * the Kubernetes source (list meshconfigs), so the injector needs no extra rule.
 */

export const MESH_CONFIG_RESOURCE = { group: 'config.openservicemesh.io', version: 'v1alpha2', plural: 'meshconfigs' } as const;

/** What the reader needs of a Kubernetes client (the shared client's list has this shape). */
export interface MeshConfigLister {
  list(type: typeof MESH_CONFIG_RESOURCE): Promise<{ readonly items: readonly unknown[] }>;
}

function key(obj: unknown): string {
  const meta = typeof obj === 'object' && obj !== null ? (obj as { metadata?: { namespace?: unknown; name?: unknown } }).metadata : undefined;
  return `${typeof meta?.namespace === 'string' ? meta.namespace : ''}/${typeof meta?.name === 'string' ? meta.name : ''}`;
}

/** The MeshConfig in force: the first by namespace/name (a mesh has one; OSM's is osm-system/osm-mesh-config). */
export function pickMeshConfig(items: readonly unknown[]): unknown {
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))[0];
}

/**
 * Reads the mesh's MeshConfig. None, or no MeshConfig CRD (404), reads as undefined: no global exclusions.
 * Any other failure is thrown as the client threw it, which fails the admission (the webhook's failurePolicy
 * decides): a pod must not start without exclusions it may need.
 */
export function meshConfigReader(client: MeshConfigLister): () => Promise<unknown> {
  return async () => {
    try {
      return pickMeshConfig((await client.list(MESH_CONFIG_RESOURCE)).items);
    } catch (err) {
      if ((err as { status?: unknown }).status === 404) return undefined;
      throw err;
    }
  };
}
