/**
 * Build step: writes dist/envoy-descriptor.json so processes load the Envoy API from JSON instead of parsing
 * the .proto files at start (a cold `weft replay` or `weft start` saves ~0.4 s).
 */
import { writeEnvoyDescriptor } from './index.js';

process.stdout.write(`wrote ${writeEnvoyDescriptor()}\n`);
