import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CaKeyPermissionError, CaMaterialError } from './errors.js';

/** A CA certificate and its key, PEM. */
export interface CaFiles {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface StoredCa {
  readonly current: CaFiles;
  readonly bundle: readonly string[];
  readonly staged: CaFiles | undefined;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

export function splitPem(text: string): string[] {
  return (text.match(PEM_CERT) ?? []).map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`));
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw new CaMaterialError(`cannot read ${file}: ${String(error)}`, { cause: error });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw new CaMaterialError(`cannot access ${file}: ${String(error)}`, { cause: error });
  }
}

/** Reads a private key file, refusing it when group or others have any access. */
export async function readKeyFile(file: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    throw new CaMaterialError(`cannot read the CA key file ${file}: ${String(error)}`, { cause: error });
  }
  if ((stat.mode & 0o077) !== 0) throw new CaKeyPermissionError(file, stat.mode);
  return fs.readFile(file, 'utf8');
}

/** Writes a file atomically (temporary file, fsync, rename) with the given mode. */
async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fs.open(tmp, 'w', mode);
  try {
    await handle.writeFile(content, 'utf8');
    // The mode given to open() is filtered by the umask; set it exactly.
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}

/**
 * The generated root's directory:
 *   ca.pem / ca.key     the signing root (key 0600, directory 0700)
 *   next.pem / next.key the staged next root during a root rotation
 *   bundle.pem          the trusted roots when they differ from ca.pem alone
 */
export class CaStore {
  readonly files: { cert: string; key: string; nextCert: string; nextKey: string; bundle: string };

  constructor(readonly dir: string) {
    this.files = {
      cert: path.join(dir, 'ca.pem'),
      key: path.join(dir, 'ca.key'),
      nextCert: path.join(dir, 'next.pem'),
      nextKey: path.join(dir, 'next.key'),
      bundle: path.join(dir, 'bundle.pem'),
    };
  }

  /** The stored CA, or undefined when the directory holds none yet. */
  async load(): Promise<StoredCa | undefined> {
    const f = this.files;
    let certPem = await readIfExists(f.cert);
    const keyExists = await exists(f.key);
    const nextCert = await readIfExists(f.nextCert);
    const nextKeyExists = await exists(f.nextKey);
    if (certPem === undefined && !keyExists) return undefined;
    if (certPem === undefined) throw new CaMaterialError(`${f.key} exists without ${f.cert}; restore ${f.cert} or remove both to start a new CA`);
    if (!keyExists) throw new CaMaterialError(`${f.cert} exists without its key ${f.key}; restore the key or remove both to start a new CA`);
    let keyPem = await readKeyFile(f.key);
    let staged: CaFiles | undefined;
    if (nextCert !== undefined && nextKeyExists) {
      staged = { certPem: nextCert, keyPem: await readKeyFile(f.nextKey) };
    } else if (nextKeyExists && certPem !== undefined) {
      // Interrupted activation: next.pem was already renamed to ca.pem, next.key not yet.
      const nextKey = await readKeyFile(f.nextKey);
      if (new X509Certificate(certPem).checkPrivateKey(createPrivateKey(nextKey))) {
        await fs.rename(f.nextKey, f.key);
        keyPem = nextKey;
        certPem = await fs.readFile(f.cert, 'utf8');
      }
    }
    const bundleText = await readIfExists(f.bundle);
    const bundle = bundleText === undefined ? [certPem] : splitPem(bundleText);
    if (bundle.length === 0) throw new CaMaterialError(`${f.bundle} holds no certificate; remove it to trust ${f.cert} alone`);
    return { current: { certPem, keyPem }, bundle, staged };
  }

  async init(root: CaFiles): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fs.chmod(this.dir, 0o700);
    await writeAtomic(this.files.key, root.keyPem, 0o600);
    await writeAtomic(this.files.cert, root.certPem, 0o644);
  }

  async stage(next: CaFiles, bundle: readonly string[]): Promise<void> {
    await writeAtomic(this.files.nextKey, next.keyPem, 0o600);
    await writeAtomic(this.files.nextCert, next.certPem, 0o644);
    await this.writeBundle(bundle);
  }

  /** The staged root becomes the signing root; the previous root's key is gone (its cert stays in bundle.pem). */
  async activate(): Promise<void> {
    await fs.rename(this.files.nextCert, this.files.cert);
    await fs.rename(this.files.nextKey, this.files.key);
  }

  async writeBundle(bundle: readonly string[]): Promise<void> {
    await writeAtomic(this.files.bundle, bundle.join(''), 0o644);
  }
}

/** Bring-your-own CA material, checked: the chain links up to a self-signed root. */
export async function readByoMaterial(byo: {
  readonly certFile: string;
  readonly keyFile: string;
  readonly chainFile?: string;
}): Promise<{ certPem: string; keyPem: string; intermediates: string[]; roots: string[] }> {
  const certText = await readIfExists(byo.certFile);
  if (certText === undefined) throw new CaMaterialError(`CA certificate file ${byo.certFile} does not exist`);
  const certs = splitPem(certText);
  const certPem = certs[0];
  if (certPem === undefined) throw new CaMaterialError(`${byo.certFile} holds no PEM certificate`);
  const keyPem = await readKeyFile(byo.keyFile);
  let others = certs.slice(1);
  if (byo.chainFile !== undefined) {
    const chainText = await readIfExists(byo.chainFile);
    if (chainText === undefined) throw new CaMaterialError(`CA chain file ${byo.chainFile} does not exist`);
    others = [...others, ...splitPem(chainText)];
  }
  const parse = (pem: string, file: string): X509Certificate => {
    try {
      return new X509Certificate(pem);
    } catch (error) {
      throw new CaMaterialError(`${file}: a certificate in it cannot be parsed: ${String(error)}`, { cause: error });
    }
  };
  const signing = parse(certPem, byo.certFile);
  const pool = others.map((pem) => ({ pem, x509: parse(pem, byo.chainFile ?? byo.certFile) }));
  const selfSigned = (c: X509Certificate): boolean => c.checkIssued(c) && c.verify(c.publicKey);
  // Walk up from the signing CA: each step must be issued and signed by the next.
  const intermediates: string[] = [];
  let at = signing;
  let atPem = certPem;
  for (let depth = 0; !selfSigned(at); depth++) {
    if (depth > 8) throw new CaMaterialError(`${byo.chainFile ?? byo.certFile}: chain longer than 8 certificates`);
    intermediates.push(atPem);
    const parent = pool.find((p) => at.checkIssued(p.x509) && at.verify(p.x509.publicKey));
    if (parent === undefined) {
      throw new CaMaterialError(
        `no certificate issued ${at.subject.replace(/\n/g, ', ')}; ${byo.chainFile === undefined ? 'set chainFile to a PEM bundle' : `add the issuing certificate to ${byo.chainFile}`} ` +
          'with every intermediate up to and including the root',
      );
    }
    at = parent.x509;
    atPem = parent.pem;
  }
  return { certPem, keyPem, intermediates, roots: [atPem] };
}
