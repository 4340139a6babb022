/**
 * Node's Buffer pool size while an ADS server listens. A module of its own, without the server's imports, so
 * that reading weft.yaml (`weft validate`, `weft replay`) does not load grpc-js for one default.
 */

/**
 * The Buffer pool size the server sets. grpc-js copies every response into a frame of its own, allocated
 * from Node's Buffer pool when under half the pool's size, as most xDS responses are with Node's 8 KiB pool.
 * A frame waiting on a busy proxy's socket outlives two young-generation collections and takes its whole
 * pool chunk, shared with requests and other frames, into the old generation, where it is freed only by a
 * full collection. V8 counts that memory as external, and each 64 MiB of it starts a full collection that
 * marks the whole heap: in a connect storm of 5,000 proxies every full collection was started that way
 * (`--trace-incremental-marking`: "external memory pressure", the heap at a third of its limit), and they
 * were about a third of the server's CPU. With small pool chunks, frames and resource bytes get buffers of
 * their own, freed with them (bench/README.md, "Buffer pool and full collections").
 */
export const DEFAULT_BUFFER_POOL_SIZE = 1024;

/** Listening servers that set the pool size, and the size before the first of them did. */
let poolHolders = 0;
let poolSizeBefore = 0;

export function holdPool(size: number): void {
  if (poolHolders++ === 0) poolSizeBefore = Buffer.poolSize;
  Buffer.poolSize = size;
}

export function releasePool(): void {
  if (--poolHolders === 0) Buffer.poolSize = poolSizeBefore;
}
