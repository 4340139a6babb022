/**
 * Writes a workload's certificate files where its file_watcher certificate provider reads them. Each file
 * is replaced by a rename, so a reader sees the old or the new file, never a torn one; the key is replaced
 * before the certificate so that a reader catching the two mid-way gets an old certificate with a key
 * that is already new only for the instant between two renames.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CERT_FILES } from './bootstrap.js';

export interface WorkloadCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** Intermediates, leaf-most first. */
  readonly chainPem?: readonly string[];
}

export function writeCertificateFiles(dir: string, cert: WorkloadCertificate, trustBundle: readonly string[]): void {
  if (trustBundle.length === 0) throw new Error(`no trust bundle to write into ${dir}; the issuer returned no root certificate`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const staged: [string, string][] = [];
  const stage = (name: string, text: string, mode: number): void => {
    const tmp = path.join(dir, `.${name}.${process.pid}.${Date.now()}.tmp`);
    fs.writeFileSync(tmp, text, { mode });
    staged.push([tmp, path.join(dir, name)]);
  };
  stage(CERT_FILES.key, cert.keyPem, 0o600);
  stage(CERT_FILES.cert, [cert.certPem, ...(cert.chainPem ?? [])].map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''), 0o644);
  stage(CERT_FILES.ca, trustBundle.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''), 0o644);
  for (const [tmp, final] of staged) fs.renameSync(tmp, final);
}
