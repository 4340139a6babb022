import type { CertificateManager } from '../certs/manager.js';
import type { WeftMetrics } from '../observe/metrics.js';
import type { XdsServer } from '../xds/server.js';

/**
 * How certificate changes reach the running servers. Kept out of startWeft so the same wiring can be
 * driven by a test clock.
 */

/**
 * A rotated identity certificate (or a new trust bundle) is re-pushed over SDS to exactly the proxies whose
 * derivations read it: the manager's `external` event carries the ids the engine invalidated. The
 * CertificateIssued event on the log changes nothing a proxy reads, so without this nothing would be sent.
 * With `servingDnsNames`, a rotated serving certificate for those names replaces the ADS server's own
 * for new handshakes; open streams keep theirs. Returns the unsubscribe.
 */
export function pushCertificateChanges(
  manager: Pick<CertificateManager, 'on'>,
  ads: Pick<XdsServer, 'notify' | 'setServingCertificate'>,
  options: { readonly servingDnsNames?: readonly string[] } = {},
): () => void {
  const offs = [
    manager.on('external', ({ invalidated }) => {
      if (invalidated.size > 0) ads.notify(invalidated, { offsets: [] });
    }),
  ];
  const served = options.servingDnsNames;
  if (served !== undefined) {
    const key = [...served].sort().join(',');
    offs.push(
      manager.on('serverCertificate', ({ dnsNames, certificate }) => {
        if ([...dnsNames].sort().join(',') !== key) return;
        ads.setServingCertificate(certificate.keyPem, [certificate.certPem, ...certificate.chainPem].join('\n'));
      }),
    );
  }
  return () => {
    for (const off of offs) off();
  };
}

/** osm_cert_issued_count and osm_cert_issued_time from the manager's `issued` events. Returns the unsubscribe. */
export function countIssuedCertificates(manager: Pick<CertificateManager, 'on'>, metrics: Pick<WeftMetrics, 'certIssuedCount' | 'certIssuedTime'>): () => void {
  return manager.on('issued', (info) => {
    metrics.certIssuedCount.inc();
    metrics.certIssuedTime.observe(info.durationMs / 1000);
  });
}
