/**
 * Runs random meshes through both proxy adapters and the Envoy checker, fast: fast-check draws the meshes
 * (fixed seed), each is translated as soon as it is drawn and its proxies stream into one long-running
 * checker process, which checks while the next mesh is translated. Only when the checker reports a
 * violation does fast-check replay the first failing mesh (by its run index, the `path` of that seed) and
 * shrink it, checking each candidate on its own; the shrunk mesh is printed as manifests.
 */
import fc from 'fast-check';
import { checkProxies, formatViolations, StreamingChecker, type LoadViolation } from '@weft/plugin-envoy/dist/load-check.js';
import { meshYaml, randomMesh, type MeshPlan } from './random-mesh.js';
import { counted, type TranslatedProxy } from './translate.js';
import * as testing from '@weft/core/testing';

export type Translate = (file: testing.ManifestFile, label: string) => TranslatedProxy[];

export interface MeshRunOptions {
  readonly runs: number;
  readonly seed: number;
  readonly translate: Translate;
}

export interface Counterexample {
  readonly plan: MeshPlan;
  readonly yaml: string;
  readonly violations: readonly LoadViolation[];
  /** Run index of the first failing mesh under the seed, before shrinking. */
  readonly run: number;
  readonly shrinks: number;
  /** Everything above, for an assertion message. */
  readonly message: string;
}

export interface MeshRunResult {
  readonly meshes: number;
  readonly proxies: { readonly envoy: number; readonly grpc: number };
  readonly resources: number;
  readonly violations: readonly LoadViolation[];
  /** Set when there were violations: the first failing mesh, shrunk. */
  readonly counterexample?: Counterexample;
  readonly ms: { readonly total: number; readonly shrink: number };
}

const RUN_LABEL = /^mesh (\d+)\//;

/** The violations one mesh's proxies have (spawning the checker once): the shrinking step. */
function meshViolations(translate: Translate, file: testing.ManifestFile): LoadViolation[] {
  const { status, report, raw } = checkProxies(translate(file, 'mesh').map((p) => p.input));
  if (status === 2) throw new Error(`the checker could not read its input:\n${raw}`);
  return counted(report.violations);
}

export async function checkRandomMeshes(options: MeshRunOptions): Promise<MeshRunResult> {
  const started = Date.now();
  const checker = new StreamingChecker();
  let meshes = 0;
  const proxies = { envoy: 0, grpc: 0 };
  let thrown: unknown;
  try {
    await fc.assert(
      fc.asyncProperty(randomMesh, async (mesh) => {
        const label = `mesh ${meshes++}`;
        for (const p of options.translate(mesh.file, label)) {
          proxies[p.adapter]++;
          await checker.send(p.input);
        }
      }),
      { seed: options.seed, numRuns: options.runs },
    );
  } catch (err) {
    // An adapter that throws fails the assertion (fast-check shrinks and reports it); the checker still exits.
    thrown = err;
  }
  const outcome = await checker.finish();
  if (thrown !== undefined) throw thrown;
  const { status, report, raw } = outcome;
  if (status === 2) throw new Error(`the checker could not read its input:\n${raw}`);
  const violations = counted(report.violations);
  const checked = Date.now();
  let counterexample: Counterexample | undefined;
  if (violations.length > 0) {
    const runs = violations.map((v) => Number(RUN_LABEL.exec(v.proxy)?.[1] ?? NaN)).filter((n) => !Number.isNaN(n));
    const run = Math.min(...runs);
    const details = fc.check(
      fc.property(randomMesh, (mesh) => meshViolations(options.translate, mesh.file).length === 0),
      { seed: options.seed, numRuns: options.runs, path: String(run) },
    );
    const shrunk = details.counterexample?.[0];
    if (shrunk === undefined) throw new Error(`mesh ${run} failed in the batch but not on its own replay (seed ${options.seed}, path ${run}):\n${formatViolations(violations)}`);
    const found = meshViolations(options.translate, shrunk.file);
    const yaml = meshYaml(shrunk.plan);
    counterexample = {
      plan: shrunk.plan,
      yaml,
      violations: found,
      run,
      shrinks: details.numShrinks,
      message: [
        `${violations.length} violations in ${new Set(runs).size} of ${meshes} random meshes (seed ${options.seed}); the first, mesh ${run}, shrunk in ${details.numShrinks} steps to:`,
        '',
        yaml,
        `its violations (proxy label mesh/<adapter>/<namespace>/<pod>):`,
        formatViolations(found),
        '',
        `plan: ${JSON.stringify(shrunk.plan)}`,
        `reproduce: fc.check over randomMesh with { seed: ${options.seed}, path: "${details.counterexamplePath ?? run}" }; keep it as a golden case under plugins/envoy/testdata/`,
      ].join('\n'),
    };
  }
  return { meshes, proxies, resources: report.resources, violations, counterexample, ms: { total: Date.now() - started, shrink: Date.now() - checked } };
}
