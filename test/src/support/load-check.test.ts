/**
 * The live-output check can fail: a listener whose RouteConfiguration is not held is caught unless routes
 * are declared partial, and bytes that differ from the version the server sent are caught before checking.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADS_SOURCE, TypeUrl, encodeTyped, envoyType, typedFilter, type EncodedResource } from '@weft/core';
import type { DecodedResource } from './delta-client.js';
import { assertProxiesLoad, fromWire, heldResources, partialExcept } from './load-check.js';

/** What a delta client decodes from an encoded resource (delta-client.ts's options). */
function received(r: EncodedResource): DecodedResource {
  const outer = envoyType('google.protobuf.Any').decode(r.any) as unknown as { value: Uint8Array };
  const type = envoyType(r.typeUrl);
  const message = type.toObject(type.decode(outer.value), { enums: String, longs: Number, defaults: false }) as Record<string, unknown>;
  return { name: r.name, version: r.version, typeUrl: r.typeUrl, message };
}

const listener = received(
  encodeTyped('type.googleapis.com/envoy.config.listener.v3.Listener', 'outbound-listener', {
    name: 'outbound-listener',
    address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } },
    filterChains: [
      {
        name: 'http',
        filters: [
          typedFilter('envoy.filters.network.http_connection_manager', 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
            statPrefix: 'out',
            rds: { routeConfigName: 'rds-outbound', configSource: ADS_SOURCE },
            httpFilters: [typedFilter('envoy.filters.http.router', 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', {})],
          }),
        ],
      },
    ],
  }),
);
const routeEncoded = encodeTyped('type.googleapis.com/envoy.config.route.v3.RouteConfiguration', 'rds-outbound', { name: 'rds-outbound', virtualHosts: [] });
const route = received(routeEncoded);

describe('assertProxiesLoad', () => {
  it('passes a configuration Envoy loads, taken from a held map', () => {
    const held = new Map([
      [TypeUrl.Listener, new Map([[listener.name, listener]])],
      [TypeUrl.RouteConfiguration, new Map([[route.name, route]])],
    ]);
    const report = assertProxiesLoad([{ proxy: 'good', resources: heldResources(held) }]);
    assert.equal(report.resources, 2);
  });

  it('fails on a listener whose routes are not served, naming proxy, rule and resource', () => {
    assert.throws(
      () => assertProxiesLoad([{ proxy: 'test/broken', resources: [listener] }]),
      (e: Error) => /would not load in Envoy/.test(e.message) && e.message.includes('test/broken [rds-served] Listener "outbound-listener"') && e.message.includes('rds-outbound'),
    );
  });

  it('with routes partial, an unheld RouteConfiguration is not a violation, and what is held is still checked', () => {
    assertProxiesLoad([{ proxy: 'lds-only', resources: [listener], partial: partialExcept(TypeUrl.Listener) }]);
    // A RouteConfiguration served under another name than its own breaks served-name, partial or not.
    const renamed = { ...route, name: 'rds-other', version: '' };
    assert.throws(
      () => assertProxiesLoad([{ proxy: 'renamed', resources: [listener, renamed], partial: [TypeUrl.RouteConfiguration] }]),
      (e: Error) => e.message.includes('[served-name]'),
    );
  });

  it('takes raw bytes as held (fromWire), checked against their version', () => {
    const inner = (envoyType('google.protobuf.Any').decode(routeEncoded.any) as unknown as { value: Uint8Array }).value;
    assertProxiesLoad([{ proxy: 'raw', resources: [listener, fromWire(TypeUrl.RouteConfiguration, route.name, inner, routeEncoded.version)] }]);
    assert.throws(() => fromWire(TypeUrl.RouteConfiguration, route.name, inner, '0123456789abcdef'), /not the version sent/);
  });

  it('fails when the re-encoding is not the bytes the version says were sent', () => {
    assert.throws(
      () => assertProxiesLoad([{ proxy: 'tampered', resources: [listener, { ...route, version: '0123456789abcdef' }] }]),
      (e: Error) => e.message.includes('re-encoded bytes differ'),
    );
  });
});
