/**
 * `npm run gen:types -w protos`: rewrites src/envoy-types.ts from the Envoy protos (parsed from the .proto
 * files, not the build's descriptor, so a regeneration never depends on a stale build).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateEnvoyTypes } from './envoy-types-gen.js';
import { parseEnvoyProtos } from './index.js';

export const ENVOY_TYPES_FILE = path.resolve(__dirname, '..', 'src', 'envoy-types.ts');

if (require.main === module) {
  fs.writeFileSync(ENVOY_TYPES_FILE, generateEnvoyTypes(parseEnvoyProtos()));
  process.stdout.write(`wrote ${path.relative(process.cwd(), ENVOY_TYPES_FILE)}\n`);
}
