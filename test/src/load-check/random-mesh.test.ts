/**
 * Random valid meshes (random-mesh.ts: services with and without cluster IPs, headless, multi-port with named
 * target ports, several TrafficSplits per apex sharing backends, TrafficTargets with HTTPRouteGroups and
 * TCPRoutes, Egress, IngressBackends, Retry, UpstreamTrafficSettings, permissive mode on and off), every
 * proxy of every mesh through the Envoy and the gRPC adapter, and the Envoy checker's whole-proxy rules
 * (test/envoy-validate) over the result: no violation. A fixed seed and 1,000 meshes by default;
 * WEFT_MESH_RUNS and WEFT_MESH_SEED change both (the longer recorded run: test/envoy-validate/README.md).
 * On a violation the first failing mesh is shrunk and printed as manifests, ready to become a golden case.
 */
import * as assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ensureChecker } from '@weft/plugin-envoy/dist/load-check.js';
import { checkRandomMeshes } from './run.js';
import { translateMesh } from './translate.js';

const RUNS = Number(process.env.WEFT_MESH_RUNS ?? 1000);
const SEED = Number(process.env.WEFT_MESH_SEED ?? 13);

describe('random meshes through both adapters and the Envoy checker', () => {
  before(ensureChecker);

  it(`every proxy of ${RUNS} random meshes (seed ${SEED}) loads, from both adapters: no violation`, async (t) => {
    assert.ok(Number.isInteger(RUNS) && RUNS > 0, `WEFT_MESH_RUNS must be a positive integer, got ${process.env.WEFT_MESH_RUNS}`);
    const result = await checkRandomMeshes({ runs: RUNS, seed: SEED, translate: translateMesh });
    t.diagnostic(
      `${result.meshes} meshes, ${result.proxies.envoy} Envoy + ${result.proxies.grpc} gRPC proxies, ${result.resources} resources checked in ${(result.ms.total / 1000).toFixed(1)} s`,
    );
    assert.equal(result.meshes, RUNS);
    assert.equal(result.counterexample?.message, undefined);
    assert.deepEqual(result.violations, []);
  });

  it('the check can fail: adapters serving no routes (Envoy) and no clusters (gRPC) are caught, shrunk to a small mesh and printed', async () => {
    // As if RDS were broken for Envoy (every HTTP chain names an unserved route) and CDS for gRPC (every
    // route names an unserved cluster).
    const broken = (file: Parameters<typeof translateMesh>[0], label: string): ReturnType<typeof translateMesh> =>
      translateMesh(file, label).map((p) => ({ ...p, input: p.adapter === 'envoy' ? { ...p.input, routes: [] } : { ...p.input, clusters: [] } }));
    const result = await checkRandomMeshes({ runs: 20, seed: SEED, translate: broken });
    const cx = result.counterexample;
    assert.ok(cx !== undefined, 'no counterexample for adapters that serve no routes or clusters');
    const rules = (adapter: string): Set<string> => new Set(result.violations.filter((v) => v.proxy.includes(`/${adapter}/`)).map((v) => v.rule));
    assert.deepEqual([...rules('envoy')], ['rds-served']);
    assert.deepEqual([...rules('grpc')], ['cds-served']);
    assert.ok(cx.violations.length > 0 && cx.violations.every((v) => v.rule === 'rds-served' || v.rule === 'cds-served'), cx.message);
    // Shrunk: one workload and one service are enough to have an HTTP chain and a route.
    assert.equal(cx.plan.workloads.length, 1, cx.message);
    assert.equal(cx.plan.services.length, 1, cx.message);
    assert.match(cx.message, /kind: Service[\s\S]*\[(rds|cds)-served\][\s\S]*reproduce: fc\.check over randomMesh with \{ seed: \d+, path: "/);
  });
});
