import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection on demand, even when the test runner was not started with --expose-gc: for tests
 * that check something can be collected (a WeakRef cleared) or that memory returns after clients leave.
 */
export function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
