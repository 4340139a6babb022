import { TypeUrl } from './adapter.js';

/** Short labels for metrics (OSM labels its xDS metrics this way). */
export function typeLabel(typeUrl: string): string {
  switch (typeUrl) {
    case TypeUrl.Listener:
      return 'LDS';
    case TypeUrl.RouteConfiguration:
      return 'RDS';
    case TypeUrl.Cluster:
      return 'CDS';
    case TypeUrl.ClusterLoadAssignment:
      return 'EDS';
    case TypeUrl.Secret:
      return 'SDS';
    default:
      return 'unknown';
  }
}
