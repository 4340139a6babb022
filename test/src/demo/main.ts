/**
 * `npm run demo`: `weft demo` with a Weft of its own, for when none is running. Starts Weft in this process
 * on a temporary copy of deploy/examples/bookstore (the quick start's mesh) with the local CA and the Envoy
 * and gRPC adapters, mTLS on ADS and every port picked by the OS, runs the demo (connect.ts) against it,
 * then stops it and removes the copy.
 *
 * Options: --phase-seconds <n> (default 5).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigFile, startWeft, type RunningWeft } from '@weft/core/testing';
import { runDemo } from './connect.js';

const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'deploy', 'examples', 'bookstore');

function phaseSeconds(): number {
  const i = process.argv.indexOf('--phase-seconds');
  if (i < 0) return 5;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error('--phase-seconds needs a positive whole number of seconds');
  return v;
}

async function main(): Promise<number> {
  const phaseMs = phaseSeconds() * 1000;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-demo-'));
  fs.cpSync(EXAMPLE, path.join(tmp, 'mesh'), { recursive: true });
  fs.writeFileSync(
    path.join(tmp, 'weft.yaml'),
    `dataDir: data
log: "memory:"
logLevel: warn
xds: { host: 127.0.0.1, port: 0 }
debug: { host: 127.0.0.1, port: 0 }
metrics: { enabled: false }
plugins:
  - name: "@weft/plugin-files"
    config: { dir: mesh, debounceMs: 50 }
  - name: "@weft/plugin-ca-local"
  - name: "@weft/plugin-envoy"
  - name: "@weft/plugin-grpc"
`,
  );
  let weft: RunningWeft | undefined;
  try {
    const config = loadConfigFile(path.join(tmp, 'weft.yaml'), {}, tmp);
    weft = await startWeft(config);
    const interrupted = new Promise((resolve) => process.once('SIGINT', resolve));
    return await runDemo({ config, debug: `127.0.0.1:${weft.debug?.port ?? 0}`, phaseMs, stdout: (t) => process.stdout.write(t), interrupted });
  } finally {
    await weft?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
