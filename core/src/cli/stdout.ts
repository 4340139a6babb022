/**
 * A reader that goes away (`weft log tail <dir> | head -1`) closes the pipe, and the next write to stdout
 * fails with EPIPE: that ends the command quietly with exit 0, as it ends any Unix filter, rather than as
 * an unhandled 'error' event with a stack trace. Installed by the `weft` executable (bin/weft.js) for
 * every command, not by main(), which tests also run in-process.
 *
 * Commands write their stdout output only once any change they make is done (`weft log repair` prints
 * after its cut is synced), so ending here never interrupts one; Weft's own logs go to stderr.
 */
export function endQuietlyWhenStdoutCloses(stream: NodeJS.WriteStream = process.stdout, exit: (code: number) => void = (c) => process.exit(c)): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // EPIPE on the write that found the pipe closed; later writes find the stream destroyed.
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
      exit(0);
      return;
    }
    // Anything else is what it was without this handler: an uncaught error.
    throw err;
  });
}
