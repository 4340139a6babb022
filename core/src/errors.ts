/**
 * Typed errors, in the kafkajs manner: every error carries a stable `code` a caller can branch on and
 * `retriable` so that supervisors know whether trying again can help. Messages tell the user what to fix.
 */
export class WeftError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Configuration that cannot work as written (weft.yaml, CLI flags, a plugin's config section). */
export class ConfigError extends WeftError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
  }
}
