import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * Test helpers shared by this package's tests: openssl as the independent verifier. openssl is a
 * prerequisite of the test suite; its absence fails the test rather than skipping it.
 */
export function openssl(args: readonly string[], input?: string): string {
  try {
    return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
  } catch (error) {
    const e = error as { code?: string; stderr?: string; stdout?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is required by the certificate tests; install it (e.g. apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Runs `openssl verify -CAfile root [-untrusted chain] [-purpose p] leaf`; returns its output, throws on failure. */
export function opensslVerify(
  dir: string,
  material: { roots: readonly string[]; chain?: readonly string[]; leaf: string; purpose?: 'sslserver' | 'sslclient' },
): string {
  const roots = path.join(dir, `roots-${process.hrtime.bigint()}.pem`);
  const leaf = path.join(dir, `leaf-${process.hrtime.bigint()}.pem`);
  writeFileSync(roots, material.roots.join(''));
  writeFileSync(leaf, material.leaf);
  const args = ['verify', '-CAfile', roots];
  if (material.chain !== undefined && material.chain.length > 0) {
    const chain = path.join(dir, `chain-${process.hrtime.bigint()}.pem`);
    writeFileSync(chain, material.chain.join(''));
    args.push('-untrusted', chain);
  }
  if (material.purpose !== undefined) args.push('-purpose', material.purpose);
  args.push(leaf);
  return openssl(args);
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
