export * from './golden.js';
export * from './wire.js';
