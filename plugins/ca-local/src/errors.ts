import { WeftError } from '@weft/core';

/** CA certificate or key material that cannot be used as given (a file, a PEM, a key type). */
export class CaMaterialError extends WeftError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CA_MATERIAL_INVALID', message, options);
  }
}

/** A CA private key file others can read; the issuer refuses to use it until its mode is 0600. */
export class CaKeyPermissionError extends WeftError {
  readonly file: string;
  constructor(file: string, mode: number) {
    super(
      'CA_KEY_PERMISSIONS',
      `CA private key file ${file} has mode 0${(mode & 0o777).toString(8)}, readable by others; ` +
        `run "chmod 600 ${file}" (only the owner may read a CA key)`,
    );
    this.file = file;
  }
}
