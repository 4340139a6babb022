import * as path from 'node:path';
import { PluginConfigError, type PluginContext } from '@weft/core';
import type { KeyAlgorithm, LocalCaOptions } from './local-ca.js';

/** The plugin's config section after validation (paths still relative to the config file). */
export interface LocalCaConfig {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly validityMs: number | undefined;
  readonly rootValidityMs: number | undefined;
  readonly trustDomain: string | undefined;
  /** Where the generated root lives; default `<dataDir>/ca`. */
  readonly caDir: string | undefined;
  readonly bringYourOwn: { readonly cert: string; readonly key: string; readonly chain: string | undefined } | undefined;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "24h", "90m", "1h30m", "30d" -> milliseconds; a bare number is milliseconds. */
export function parseDuration(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  if (typeof value === 'string') {
    const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    if (parts.length > 0 && parts.map((p) => p[0]).join('') === value) {
      const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
      if (ms > 0) return ms;
    }
  }
  throw new PluginConfigError(where, `must be a positive duration such as "24h", "90m" or "30d" (got ${JSON.stringify(value)})`);
}

function optionalString(section: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = section[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new PluginConfigError(where, 'must be a non-empty string');
  return value;
}

const KNOWN = ['keyAlgorithm', 'validity', 'rootValidity', 'trustDomain', 'caDir', 'bringYourOwn'];

export function validateConfig(raw: unknown): LocalCaConfig {
  const section = raw ?? {};
  if (typeof section !== 'object' || Array.isArray(section)) {
    throw new PluginConfigError('', 'the ca-local config must be a mapping (keyAlgorithm, validity, caDir, bringYourOwn, ...)');
  }
  const s = section as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (!KNOWN.includes(key)) throw new PluginConfigError(key, `unknown key; the known keys are ${KNOWN.join(', ')}`);
  }
  const keyAlgorithm = s.keyAlgorithm ?? 'ecdsa-p256';
  if (keyAlgorithm !== 'ecdsa-p256' && keyAlgorithm !== 'rsa-2048') {
    throw new PluginConfigError('keyAlgorithm', `must be "ecdsa-p256" or "rsa-2048" (got ${JSON.stringify(keyAlgorithm)})`);
  }
  const trustDomain = optionalString(s, 'trustDomain', 'trustDomain');
  if (trustDomain !== undefined && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(trustDomain)) {
    throw new PluginConfigError('trustDomain', `must be a DNS name such as "cluster.local" (got "${trustDomain}")`);
  }
  let bringYourOwn: LocalCaConfig['bringYourOwn'];
  if (s.bringYourOwn !== undefined) {
    const byo = s.bringYourOwn;
    if (typeof byo !== 'object' || byo === null || Array.isArray(byo)) {
      throw new PluginConfigError('bringYourOwn', 'must be a mapping with cert, key and optionally chain (PEM file paths)');
    }
    const b = byo as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (!['cert', 'key', 'chain'].includes(key)) throw new PluginConfigError(`bringYourOwn.${key}`, 'unknown key; use cert, key, chain');
    }
    const cert = optionalString(b, 'cert', 'bringYourOwn.cert');
    const key = optionalString(b, 'key', 'bringYourOwn.key');
    if (cert === undefined) throw new PluginConfigError('bringYourOwn.cert', 'is required: the PEM file of the signing CA certificate');
    if (key === undefined) throw new PluginConfigError('bringYourOwn.key', 'is required: the PEM file of the signing CA private key');
    bringYourOwn = { cert, key, chain: optionalString(b, 'chain', 'bringYourOwn.chain') };
  }
  const caDir = optionalString(s, 'caDir', 'caDir');
  if (caDir !== undefined && bringYourOwn !== undefined) {
    throw new PluginConfigError('caDir', 'cannot be combined with bringYourOwn (the CA then comes from those files)');
  }
  return {
    keyAlgorithm,
    validityMs: s.validity === undefined ? undefined : parseDuration(s.validity, 'validity'),
    rootValidityMs: s.rootValidity === undefined ? undefined : parseDuration(s.rootValidity, 'rootValidity'),
    trustDomain,
    caDir,
    bringYourOwn,
  };
}

/** Resolves config paths against the config file's directory and fills defaults from the context. */
export function toOptions(config: LocalCaConfig, context: PluginContext): LocalCaOptions {
  const resolve = (p: string): string => path.resolve(context.configDir, p);
  return {
    keyAlgorithm: config.keyAlgorithm,
    trustDomain: config.trustDomain ?? context.trustDomain,
    logger: context.logger,
    ...(config.validityMs === undefined ? {} : { validityMs: config.validityMs }),
    ...(config.rootValidityMs === undefined ? {} : { rootValidityMs: config.rootValidityMs }),
    ...(config.bringYourOwn === undefined
      ? { caDir: config.caDir === undefined ? path.join(context.dataDir, 'ca') : resolve(config.caDir) }
      : {
          bringYourOwn: {
            certFile: resolve(config.bringYourOwn.cert),
            keyFile: resolve(config.bringYourOwn.key),
            ...(config.bringYourOwn.chain === undefined ? {} : { chainFile: resolve(config.bringYourOwn.chain) }),
          },
        }),
  };
}
