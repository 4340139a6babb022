import { WeftError } from '../errors.js';

/**
 * Replay cannot answer as asked: an unknown proxy, a point outside the log, an empty log, a resource the
 * proxy does not have. The message names the input and what to use instead.
 */
export class ReplayError extends WeftError {
  constructor(code: ReplayErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

export type ReplayErrorCode =
  | 'REPLAY_UNKNOWN_PROXY'
  | 'REPLAY_POINT_OUT_OF_RANGE'
  | 'REPLAY_BAD_POINT'
  | 'REPLAY_EMPTY_LOG'
  | 'REPLAY_NO_ADAPTER'
  | 'REPLAY_UNKNOWN_RESOURCE'
  | 'REPLAY_KEY_MATERIAL';
