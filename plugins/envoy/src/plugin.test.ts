/**
 * Registration: the Envoy adapter serves the proxy kinds its config names, by default Weft's "envoy" and
 * OSM's "sidecar" (the kind in the certificate CN of every pod OSM injected), with the same configuration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginConfigError, Tokens, TypeUrl, type PluginContext, type ProxyAdapter } from '@weft/core';
import { createPluginContainer } from '@weft/core/testing';
import plugin, { type EnvoyPluginConfig } from './index.js';

const context = { logger: undefined, dataDir: '.', configDir: '.', trustDomain: 'cluster.local' } as unknown as PluginContext;

async function registered(config: EnvoyPluginConfig): Promise<ProxyAdapter[]> {
  const c = createPluginContainer();
  await plugin.register(c, config, context);
  return c.resolveAll<ProxyAdapter>(Tokens.ProxyAdapter);
}

const validate = (raw: unknown): EnvoyPluginConfig => plugin.validateConfig!(raw);

describe('envoy plugin registration', () => {
  it('serves kinds "envoy" and OSM\'s "sidecar" by default', async () => {
    const config = validate(undefined);
    assert.deepEqual(config.kinds, ['envoy', 'sidecar']);
    const adapters = await registered(config);
    assert.deepEqual(adapters.map((a) => a.kind), ['envoy', 'sidecar']);
  });

  it('gives a "sidecar" proxy exactly what an "envoy" proxy of the same identity gets (same derivations, so shared)', async () => {
    const [envoy, sidecar] = await registered(validate({}));
    const id = { uuid: 'u-1', serviceAccount: 'bookstore', namespace: 'bookstore', trustDomain: 'cluster.local' };
    assert.deepEqual(sidecar!.typeUrls, envoy!.typeUrls);
    for (const t of envoy!.typeUrls) {
      assert.equal(sidecar!.resources({ ...id, kind: 'sidecar' }, t).id, envoy!.resources({ ...id, kind: 'envoy' }, t).id, t);
    }
    assert.ok(envoy!.typeUrls.includes(TypeUrl.Secret));
  });

  it('takes the kinds from its config', async () => {
    assert.deepEqual((await registered(validate({ kinds: ['sidecar'] }))).map((a) => a.kind), ['sidecar']);
  });

  it('refuses kinds it cannot serve, naming the field and why', () => {
    const refuses = (raw: unknown, message: RegExp): void => {
      assert.throws(() => validate(raw), (e: unknown) => e instanceof PluginConfigError && message.test(e.message));
    };
    refuses({ kinds: ['gateway'] }, /^kinds\[0\]: "gateway" is OSM's multicluster gateway kind; the Envoy adapter serves sidecars only/);
    refuses({ kinds: [] }, /^kinds: must list at least one proxy kind/);
    refuses({ kinds: ['envoy', 'envoy'] }, /^kinds\[1\]: "envoy" is listed twice/);
    refuses({ kinds: ['Sidecar'] }, /^kinds\[0\]: must be a short DNS label/);
    refuses({ kinds: 'sidecar' }, /^kinds: must be a list/);
    refuses({ kind: ['sidecar'] }, /^kind: unknown field; expected kinds/);
  });
});
