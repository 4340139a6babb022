export * from './golden.js';
export * from './wire.js';
export * from './invalid.js';
