import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildStages, dockerignore, parseDockerfile, type StageResult } from './dockerfile.js';

/**
 * The repository's Dockerfile, exercised without a container engine (there is none here): its stages'
 * COPY and RUN steps run in clean folders (npm ci from the registry or npm's cache, the TypeScript build,
 * npm ci --omit=dev), then the final stage's ENTRYPOINT starts Weft from that folder alone, which gets
 * ready, answers /healthz and stops cleanly on SIGTERM sent to the entrypoint's process itself (PID 1 in
 * the container). Takes minutes: it installs and builds from scratch.
 */

const REPO = path.resolve(__dirname, '..', '..', '..');
const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');

describe('Dockerfile', () => {
  const stages = parseDockerfile(text);
  const final = stages.at(-1)!;

  it('is multi-stage: a build stage, then node:20-slim with production dependencies only, as a non-root user', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    assert.match(final.from, /^(node:20-slim|gcr\.io\/distroless\/nodejs20)/);
    const runs = final.steps.filter((s) => s.op === 'RUN').map((s) => s.args);
    assert.ok(runs.some((r) => /npm ci\b.*--omit=dev/.test(r)), `the runtime installs with npm ci --omit=dev: ${runs.join(' | ')}`);
    assert.ok(!runs.some((r) => /\btsc\b/.test(r)), 'nothing is compiled in the runtime stage');
    const user = final.steps.filter((s) => s.op === 'USER').at(-1)?.args;
    assert.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `runs as a non-root user, got USER ${user}`);
  });

  it('starts node itself (exec form) with `weft start`, so signals reach Node', () => {
    const entry = final.steps.filter((s) => s.op === 'ENTRYPOINT').at(-1);
    assert.ok(entry !== undefined, 'an ENTRYPOINT');
    const argv = JSON.parse(entry.args) as string[];
    assert.equal(argv[0], 'node', 'node is the process the runtime starts (PID 1), not sh or npm');
    assert.match(argv[1] ?? '', /core\/bin\/weft\.js$/);
    assert.equal(argv[2], 'start');
  });

  it('.dockerignore keeps installed packages, built output, data and test binaries out of the context', () => {
    const skip = dockerignore(fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));
    for (const p of ['node_modules', 'core/node_modules', 'core/dist', 'plugins/envoy/dist', 'core/tsconfig.tsbuildinfo', '.weft-data', 'deploy/kubernetes/bin', 'deploy/kubernetes/run', 'deploy/helm/bin']) {
      assert.ok(skip(p), `${p} is sent to the build`);
    }
    for (const p of ['core/bin', 'core/src', 'package-lock.json', 'protos/weft', 'plugins/envoy/src']) assert.ok(!skip(p), `${p} is left out`);
  });

  describe('its recipe, run in clean folders', { timeout: 20 * 60_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-dockerfile-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    let built: StageResult[] = [];

    it('installs and builds (npm ci, tsc, npm ci --omit=dev)', async () => {
      const t0 = Date.now();
      // npm's cache (~/.npm) is used when it holds the packages, as a Docker build cache mount would.
      built = await buildStages(stages, REPO, dir);
      const runtime = built.at(-1)!;
      const app = path.join(runtime.root, runtime.workdir);
      assert.ok(fs.existsSync(path.join(app, 'core', 'dist', 'cli', 'main.js')), 'core is built');
      assert.ok(fs.existsSync(path.join(app, 'node_modules', '@weft', 'plugin-injector')), 'the plugins are installed as workspaces');
      assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'typescript')), 'no dev dependency (typescript) in the runtime');
      assert.ok(!fs.existsSync(path.join(app, 'core', 'src')), 'no sources in the runtime');
      console.log(`# Dockerfile recipe: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    });

    it('starts from the runtime folder alone, gets ready, answers /healthz, stops on SIGTERM with exit 0', async () => {
      assert.ok(built.length > 0, 'the recipe ran');
      const runtime = built.at(-1)!;
      const inRoot = (p: string): string => (p.startsWith('/') ? path.join(runtime.root, p) : p);
      const config = path.join(runtime.root, 'etc', 'weft', 'weft.yaml');
      fs.mkdirSync(path.dirname(config), { recursive: true });
      // What a plain `docker run -v ...:/etc/weft` would give it: a memory log, the local CA, the adapters.
      fs.writeFileSync(
        config,
        ['log: "memory:"', 'plugins:', "  - '@weft/plugin-ca-local'", "  - '@weft/plugin-envoy'", "  - '@weft/plugin-grpc'", ''].join('\n'),
      );
      const argv = [
        ...runtime.entrypoint!.map(inRoot),
        ...['--config', inRoot('/etc/weft/weft.yaml'), '--data-dir', path.join(dir, 'data')],
        ...['--xds-port', '0', '--debug-port', '0', '--metrics-port', '0'],
      ];
      const child = spawn(argv[0] === 'node' ? process.execPath : argv[0]!, argv.slice(1), {
        cwd: path.join(runtime.root, runtime.workdir),
        // Only what the image sets: no NODE_PATH or workspace of the repository's.
        env: { PATH: process.env['PATH'] ?? '', HOME: dir, ...runtime.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          for (const line of stderr.split('\n')) {
            if (line.includes('"msg":"ready"')) resolve(JSON.parse(line) as Record<string, unknown>);
          }
        });
        void exited.then((code) => reject(new Error(`weft exited ${code} before ready:\n${stderr}`)));
      });
      try {
        const line = await ready;
        const port = String(line['debug']).split(':').at(-1);
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        assert.equal(res.status, 200);
      } finally {
        child.kill('SIGTERM');
      }
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /"msg":"stopped"/);
    });
  });
});
