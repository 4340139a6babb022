import { WeftError } from '../errors.js';

/** A derivation reads itself, directly or through others; `cycle` lists the ids from the first to itself again. */
export class DerivationCycleError extends WeftError {
  readonly cycle: readonly string[];

  constructor(cycle: readonly string[]) {
    super(
      'DERIVE_CYCLE',
      `derivation cycle: ${cycle.join(' -> ')}; a derivation must not read itself, directly or through other derivations`,
    );
    this.cycle = cycle;
  }
}

/** The engine was used in a way that would lose dependency tracking or reference counts. */
export class DerivationUsageError extends WeftError {
  constructor(message: string) {
    super('DERIVE_MISUSE', message);
  }
}
