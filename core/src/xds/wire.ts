import { envoyType } from '@weft/protos';
import type { EncodedResource } from './adapter.js';
import { fieldSize, writeFieldHeader } from './encode.js';
import { EnvelopeError, expectLen, NeedsFullDecode, readFields, readStatus, readStringMapEntry } from './request-decode.js';

/**
 * Wire format of the ADS messages. Responses are written by hand around the pre-encoded Any bytes of each
 * resource, so a resource version is protobuf-encoded once no matter how many streams send it. Requests are
 * read by a lean reader of their envelope (request-decode.ts); the node is decoded by protobufjs when read.
 */

export interface SotwResponse {
  readonly kind: 'sotw';
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly EncodedResource[];
}

export interface DeltaResponse {
  readonly kind: 'delta';
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly EncodedResource[];
  readonly removed: readonly string[];
}

export type AdsResponse = SotwResponse | DeltaResponse;

const CONTROL_PLANE_ID = 'weft';

/*
 * Responses are sized first and then written into one buffer: writing each field into a buffer of its own and
 * concatenating them cost two to four allocations per field, and in a connect storm at 10,000 proxies the
 * allocator's pool churn and the copies were 5% of the server's time. Field numbers here are all below 16, so
 * every key is one byte (`fieldSize`, `writeFieldHeader`).
 */

/** Bytes of a string field, written even when empty (an element of a repeated field). */
function textSize(value: string): number {
  return fieldSize(Buffer.byteLength(value, 'utf8'));
}

/** Bytes of a string field, or 0 for an empty string (proto3 leaves an unset scalar out). */
function strSize(value: string): number {
  return value === '' ? 0 : textSize(value);
}

function writeText(out: Buffer, at: number, field: number, value: string): number {
  const from = writeFieldHeader(out, at, field, Buffer.byteLength(value, 'utf8'));
  return from + out.write(value, from, 'utf8');
}

function writeStr(out: Buffer, at: number, field: number, value: string): number {
  return value === '' ? at : writeText(out, at, field, value);
}

function writeBytes(out: Buffer, at: number, field: number, bytes: Uint8Array): number {
  const from = writeFieldHeader(out, at, field, bytes.length);
  out.set(bytes, from);
  return from + bytes.length;
}

/** envoy.config.core.v3.ControlPlane { identifier = 1 } */
const CONTROL_PLANE = ((): Buffer => {
  const out = Buffer.alloc(strSize(CONTROL_PLANE_ID));
  writeStr(out, 0, 1, CONTROL_PLANE_ID);
  return out;
})();

/** envoy.service.discovery.v3.DiscoveryResponse, fields 1 version_info, 2 resources, 4 type_url, 5 nonce, 6 control_plane. */
export function encodeSotwResponse(r: Omit<SotwResponse, 'kind'>): Buffer {
  let size = strSize(r.versionInfo) + strSize(r.typeUrl) + strSize(r.nonce) + fieldSize(CONTROL_PLANE.length);
  for (const res of r.resources) size += fieldSize(res.any.length);
  const out = Buffer.allocUnsafe(size);
  let at = writeStr(out, 0, 1, r.versionInfo);
  for (const res of r.resources) at = writeBytes(out, at, 2, res.any);
  at = writeStr(out, at, 4, r.typeUrl);
  at = writeStr(out, at, 5, r.nonce);
  writeBytes(out, at, 6, CONTROL_PLANE);
  return out;
}

/** Bytes of an envoy.service.discovery.v3.Resource: fields 1 version, 2 resource (Any), 3 name. */
function deltaResourceSize(res: EncodedResource): number {
  return strSize(res.version) + fieldSize(res.any.length) + strSize(res.name);
}

/**
 * envoy.service.discovery.v3.DeltaDiscoveryResponse, fields 1 system_version_info, 2 resources, 4 type_url,
 * 5 nonce, 6 removed_resources, 7 control_plane.
 */
export function encodeDeltaResponse(r: Omit<DeltaResponse, 'kind'>): Buffer {
  let size = strSize(r.systemVersionInfo) + strSize(r.typeUrl) + strSize(r.nonce) + fieldSize(CONTROL_PLANE.length);
  const sizes: number[] = [];
  for (const res of r.resources) {
    const n = deltaResourceSize(res);
    sizes.push(n);
    size += fieldSize(n);
  }
  for (const name of r.removed) size += textSize(name);
  const out = Buffer.allocUnsafe(size);
  let at = writeStr(out, 0, 1, r.systemVersionInfo);
  for (let i = 0; i < r.resources.length; i++) {
    const res = r.resources[i]!;
    at = writeFieldHeader(out, at, 2, sizes[i]!);
    at = writeStr(out, at, 1, res.version);
    at = writeBytes(out, at, 2, res.any);
    at = writeStr(out, at, 3, res.name);
  }
  at = writeStr(out, at, 4, r.typeUrl);
  at = writeStr(out, at, 5, r.nonce);
  for (const name of r.removed) at = writeText(out, at, 6, name);
  writeBytes(out, at, 7, CONTROL_PLANE);
  return out;
}

export function encodeAdsResponse(r: AdsResponse): Buffer {
  return r.kind === 'sotw' ? encodeSotwResponse(r) : encodeDeltaResponse(r);
}

/** The parts of envoy.config.core.v3.Node Weft reads. */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  /** node.metadata flattened to its string, number and bool values. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

export interface SotwRequest {
  readonly kind: 'sotw';
  readonly node: NodeInfo | undefined;
  readonly versionInfo: string;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  readonly errorDetail: ErrorDetail | undefined;
}

export interface DeltaRequest {
  readonly kind: 'delta';
  readonly node: NodeInfo | undefined;
  readonly typeUrl: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialResourceVersions: ReadonlyMap<string, string>;
  readonly responseNonce: string;
  readonly errorDetail: ErrorDetail | undefined;
}

/** A request whose bytes could not be decoded; the stream handler reports it instead of grpc-js. */
export interface MalformedRequest {
  readonly kind: 'malformed';
  readonly error: string;
  readonly size: number;
}

export type AdsRequest = SotwRequest | DeltaRequest;

interface StructValue {
  stringValue?: string;
  numberValue?: number;
  boolValue?: boolean;
}

function decodeNode(node: unknown): NodeInfo | undefined {
  if (node === null || node === undefined || typeof node !== 'object') return undefined;
  const n = node as { id?: string; cluster?: string; metadata?: { fields?: Record<string, StructValue> } };
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(n.metadata?.fields ?? {})) {
    if (typeof value.stringValue === 'string') metadata[key] = value.stringValue;
    else if (typeof value.numberValue === 'number') metadata[key] = String(value.numberValue);
    else if (typeof value.boolValue === 'boolean') metadata[key] = String(value.boolValue);
  }
  return { id: n.id ?? '', cluster: n.cluster ?? '', metadata };
}

function decodeErrorDetail(e: unknown): ErrorDetail | undefined {
  if (e === null || e === undefined || typeof e !== 'object') return undefined;
  const s = e as { code?: number; message?: string };
  return { code: s.code ?? 0, message: s.message ?? '' };
}

let sotwType: ReturnType<typeof envoyType> | undefined;
let deltaType: ReturnType<typeof envoyType> | undefined;
let nodeType: ReturnType<typeof envoyType> | undefined;

/** A request's node could not be decoded: the request is malformed, found when the node is first read. */
export class MalformedNodeError extends Error {
  constructor(
    message: string,
    /** Size of the node's bytes. */
    readonly size: number,
  ) {
    super(message);
    this.name = 'MalformedNodeError';
  }
}

/** The node, decoded on first read (most requests' nodes are never read). */
function lazyNode(bytes: Buffer | undefined): () => NodeInfo | undefined {
  if (bytes === undefined) return () => undefined;
  let node: NodeInfo | undefined;
  let decoded = false;
  return () => {
    if (!decoded) {
      nodeType ??= envoyType('envoy.config.core.v3.Node');
      try {
        node = decodeNode(nodeType.decode(bytes));
      } catch (err) {
        throw new MalformedNodeError((err as Error).message, bytes.length);
      }
      decoded = true;
    }
    return node;
  };
}

/** The field a message may hold once: a second occurrence merges (protobuf's rule), left to the full decoder. */
function once<T>(seen: T | undefined): void {
  if (seen !== undefined) throw new NeedsFullDecode('a message field repeated');
}

function leanSotw(buf: Uint8Array): SotwRequest {
  let versionInfo = '';
  let node: Buffer | undefined;
  const resourceNames: string[] = [];
  let typeUrl = '';
  let responseNonce = '';
  let errorDetail: ErrorDetail | undefined;
  readFields(buf, (r, n, wt) => {
    switch (n) {
      case 1:
        expectLen(wt);
        versionInfo = r.string();
        return true;
      case 2:
        expectLen(wt);
        once(node);
        node = r.bytes();
        return true;
      case 3:
        expectLen(wt);
        resourceNames.push(r.string());
        return true;
      case 4:
        expectLen(wt);
        typeUrl = r.string();
        return true;
      case 5:
        expectLen(wt);
        responseNonce = r.string();
        return true;
      case 6:
        expectLen(wt);
        once(errorDetail);
        errorDetail = readStatus(r.bytes());
        return true;
      case 7:
        // resource_locators: not read by Weft; checked as a message by the full decoder.
        throw new NeedsFullDecode('resource locators');
      default:
        return false;
    }
  });
  const readNode = lazyNode(node);
  return {
    kind: 'sotw',
    get node() {
      return readNode();
    },
    versionInfo,
    resourceNames,
    typeUrl,
    responseNonce,
    errorDetail,
  };
}

function leanDelta(buf: Uint8Array): DeltaRequest {
  let node: Buffer | undefined;
  let typeUrl = '';
  const subscribe: string[] = [];
  const unsubscribe: string[] = [];
  const initialResourceVersions = new Map<string, string>();
  let responseNonce = '';
  let errorDetail: ErrorDetail | undefined;
  readFields(buf, (r, n, wt) => {
    switch (n) {
      case 1:
        expectLen(wt);
        once(node);
        node = r.bytes();
        return true;
      case 2:
        expectLen(wt);
        typeUrl = r.string();
        return true;
      case 3:
        expectLen(wt);
        subscribe.push(r.string());
        return true;
      case 4:
        expectLen(wt);
        unsubscribe.push(r.string());
        return true;
      case 5: {
        expectLen(wt);
        const [name, version] = readStringMapEntry(r.bytes());
        initialResourceVersions.set(name, version);
        return true;
      }
      case 6:
        expectLen(wt);
        responseNonce = r.string();
        return true;
      case 7:
        expectLen(wt);
        once(errorDetail);
        errorDetail = readStatus(r.bytes());
        return true;
      case 8:
      case 9:
        throw new NeedsFullDecode('resource locators');
      default:
        return false;
    }
  });
  const readNode = lazyNode(node);
  return {
    kind: 'delta',
    get node() {
      return readNode();
    },
    typeUrl,
    subscribe,
    unsubscribe,
    initialResourceVersions,
    responseNonce,
    errorDetail,
  };
}

/** A DiscoveryRequest (state of the world); never throws: garbage becomes a malformed value. */
export function decodeSotwRequest(buf: Uint8Array): SotwRequest | MalformedRequest {
  try {
    return leanSotw(buf);
  } catch (err) {
    if (err instanceof EnvelopeError) return { kind: 'malformed', error: err.message, size: buf.length };
    return fullSotw(buf);
  }
}

/** A DeltaDiscoveryRequest; never throws: garbage becomes a malformed value. */
export function decodeDeltaRequest(buf: Uint8Array): DeltaRequest | MalformedRequest {
  try {
    return leanDelta(buf);
  } catch (err) {
    if (err instanceof EnvelopeError) return { kind: 'malformed', error: err.message, size: buf.length };
    return fullDelta(buf);
  }
}

/** protobufjs decodes the whole request (the node too): envelopes the lean reader leaves to it. */
export function fullSotw(buf: Uint8Array): SotwRequest | MalformedRequest {
  sotwType ??= envoyType('envoy.service.discovery.v3.DiscoveryRequest');
  try {
    const m = sotwType.decode(buf) as unknown as {
      versionInfo?: string;
      node?: unknown;
      resourceNames?: string[];
      typeUrl?: string;
      responseNonce?: string;
      errorDetail?: unknown;
    };
    return {
      kind: 'sotw',
      node: decodeNode(m.node),
      versionInfo: m.versionInfo ?? '',
      resourceNames: m.resourceNames ?? [],
      typeUrl: m.typeUrl ?? '',
      responseNonce: m.responseNonce ?? '',
      errorDetail: decodeErrorDetail(m.errorDetail),
    };
  } catch (err) {
    return { kind: 'malformed', error: (err as Error).message, size: buf.length };
  }
}

export function fullDelta(buf: Uint8Array): DeltaRequest | MalformedRequest {
  deltaType ??= envoyType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  try {
    const m = deltaType.decode(buf) as unknown as {
      node?: unknown;
      typeUrl?: string;
      resourceNamesSubscribe?: string[];
      resourceNamesUnsubscribe?: string[];
      initialResourceVersions?: Record<string, string>;
      responseNonce?: string;
      errorDetail?: unknown;
    };
    return {
      kind: 'delta',
      node: decodeNode(m.node),
      typeUrl: m.typeUrl ?? '',
      subscribe: m.resourceNamesSubscribe ?? [],
      unsubscribe: m.resourceNamesUnsubscribe ?? [],
      initialResourceVersions: new Map(Object.entries(m.initialResourceVersions ?? {})),
      responseNonce: m.responseNonce ?? '',
      errorDetail: decodeErrorDetail(m.errorDetail),
    };
  } catch (err) {
    return { kind: 'malformed', error: (err as Error).message, size: buf.length };
  }
}
