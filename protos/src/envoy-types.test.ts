import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import * as protobuf from 'protobufjs';
import { generateEnvoyTypes } from './envoy-types-gen.js';
import { envoyProtos, parseEnvoyProtos } from './index.js';
import { ENVOY_TYPES_FILE } from './write-envoy-types.js';

describe('generated Envoy types', () => {
  let parsed: string | undefined;
  // Parsing the .proto files takes ~0.6 s; both tests compare against the same text.
  const fromProtoFiles = (): string => (parsed ??= generateEnvoyTypes(parseEnvoyProtos()));

  it('the committed src/envoy-types.ts is what the generator writes from the installed protos', () => {
    assert.ok(fromProtoFiles() === fs.readFileSync(ENVOY_TYPES_FILE, 'utf8'), 'src/envoy-types.ts is stale: run `npm run gen:types -w protos` and commit it');
  });

  it('gives the same text from the build descriptor as from the .proto files (declaration order survives)', () => {
    assert.ok(generateEnvoyTypes(envoyProtos()) === fromProtoFiles());
  });

  it('writes fields in object form: camelCase, enums by name, maps, repeated, 64-bit, deprecated, Any', () => {
    const root = protobuf.parse(`
      syntax = "proto3";
      package t.v1;
      message Any { string type_url = 1; bytes value = 2; }
      message M {
        enum Kind { A = 0; B_C = 1; }
        string plain_name = 1;
        repeated Kind kinds = 2;
        map<string, M> by_name = 3;
        uint64 big = 4;
        bool old = 5 [deprecated = true];
        message Empty {}
        Empty empty = 6;
      }
    `).root;
    const text = generateEnvoyTypes(root);
    assert.match(text, /plainName\?: string;/);
    assert.match(text, /kinds\?: readonly \(t\.v1\.M\.Kind \| number\)\[\];/);
    assert.match(text, /export type Kind = "A" \| "B_C";/);
    assert.match(text, /byName\?: \{ \[key: string\]: t\.v1\.M \};/);
    assert.match(text, /big\?: number \| string;/);
    assert.match(text, /\/\*\* @deprecated \*\/\n\s+old\?: boolean;/);
    assert.match(text, /export interface Empty \{ readonly \[field: string\]: never \}/);
    assert.match(text, /"t\.v1\.M": t\.v1\.M;/);
  });

  it('refuses a nested name that would shadow a top-level package', () => {
    const root = protobuf.parse('syntax = "proto3"; package t.v1; message t { string a = 1; }').root;
    assert.throws(() => generateEnvoyTypes(root), /shadows the top-level package t/);
  });
});
