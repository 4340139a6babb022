import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { captureLogger } from '@weft/core';
import { loadConfigFile, startWeft, type RunningWeft } from '@weft/core/testing';
import { EXAMPLE } from '../cli/helpers.js';

/** A Weft in-process on a copy of the example mesh: file log, local CA, Envoy adapter, insecure ADS. */
export interface ExampleWeft {
  /** The temporary folder holding `weft.yaml`, `manifests/` (the copy) and `data/`. */
  readonly dir: string;
  readonly configFile: string;
  readonly weft: RunningWeft;
}

/**
 * Starts it on ports the OS picks. Insecure ADS keeps the tests on what they check (the config served);
 * the mTLS path has tests of its own.
 */
export async function startExampleWeft(prefix: string): Promise<ExampleWeft> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.cpSync(EXAMPLE, path.join(dir, 'manifests'), { recursive: true });
  const configFile = path.join(dir, 'weft.yaml');
  fs.writeFileSync(
    configFile,
    `dataDir: data
xds: { host: 127.0.0.1, port: 0, insecure: true }
debug: { host: 127.0.0.1, port: 0 }
metrics: { host: 127.0.0.1, port: 0 }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: manifests, debounceMs: 20 }
  - name: '@weft/plugin-ca-local'
  - name: '@weft/plugin-envoy'
`,
  );
  const weft = await startWeft(loadConfigFile(configFile, {}, dir), { logger: captureLogger() });
  return { dir, configFile, weft };
}
