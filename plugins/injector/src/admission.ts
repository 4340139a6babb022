/**
 * admission.k8s.io/v1 AdmissionReview in and out. Parsing checks every field the injector reads, so a
 * malformed review is answered with a 400 naming the field rather than failing deep inside the injector.
 */
import { WeftError } from '@weft/core';
import type { JsonPatchOperation } from './patch.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** The body of an admission request is not an AdmissionReview the injector can answer. */
export class AdmissionReviewError extends WeftError {
  constructor(message: string) {
    super('ADMISSION_REVIEW_INVALID', message);
  }
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  readonly operation: string;
  /** "" for cluster-scoped objects. */
  readonly namespace: string;
  /** May be "" on CREATE when the object uses generateName. */
  readonly name: string;
  readonly object: Record<string, unknown>;
  readonly dryRun: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(obj: Record<string, unknown>, key: string, where: string, required: boolean): string {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw new AdmissionReviewError(`${where}.${key} is missing; an AdmissionReview from the API server always has it`);
    return '';
  }
  if (typeof v !== 'string') throw new AdmissionReviewError(`${where}.${key} must be a string, got ${typeof v}`);
  return v;
}

/** Parses an AdmissionReview request body; throws AdmissionReviewError naming what is wrong. */
export function parseAdmissionReview(body: string): AdmissionRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new AdmissionReviewError(`the body is not JSON (${(err as Error).message}); send an ${ADMISSION_API_VERSION} AdmissionReview`);
  }
  if (!isObject(doc)) throw new AdmissionReviewError(`the body must be a JSON object (an ${ADMISSION_API_VERSION} AdmissionReview)`);
  if (doc['apiVersion'] !== ADMISSION_API_VERSION || doc['kind'] !== 'AdmissionReview') {
    throw new AdmissionReviewError(
      `expected apiVersion ${ADMISSION_API_VERSION} and kind AdmissionReview, got ${JSON.stringify(doc['apiVersion'])} ` +
        `and ${JSON.stringify(doc['kind'])}; list only "v1" in the webhook's admissionReviewVersions`,
    );
  }
  const request = doc['request'];
  if (!isObject(request)) throw new AdmissionReviewError('request is missing or not an object');
  const uid = str(request, 'uid', 'request', true);
  if (uid === '') throw new AdmissionReviewError('request.uid is empty');
  const kind = request['kind'];
  if (!isObject(kind)) throw new AdmissionReviewError('request.kind is missing or not an object');
  const gvk = { group: str(kind, 'group', 'request.kind', false), version: str(kind, 'version', 'request.kind', true), kind: str(kind, 'kind', 'request.kind', true) };
  const operation = str(request, 'operation', 'request', true);
  const object = request['object'];
  if (operation !== 'DELETE' && !isObject(object)) throw new AdmissionReviewError(`request.object is missing or not an object (operation ${operation})`);
  const dryRun = request['dryRun'];
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') throw new AdmissionReviewError('request.dryRun must be a boolean');
  return {
    uid,
    kind: gvk,
    operation,
    namespace: str(request, 'namespace', 'request', false),
    name: str(request, 'name', 'request', false),
    object: isObject(object) ? object : {},
    dryRun: dryRun === true,
  };
}

/** Checks that an admitted object is a Pod with a spec the patch can extend. */
export function checkPod(request: AdmissionRequest): void {
  const { group, version, kind } = request.kind;
  if (group !== '' || version !== 'v1' || kind !== 'Pod') {
    throw new AdmissionReviewError(`request.kind is ${group || 'core'}/${version} ${kind}; this webhook only admits core/v1 Pods (fix the webhook's rules)`);
  }
  if (request.namespace === '') throw new AdmissionReviewError('request.namespace is empty; pods are namespaced');
  const spec = request.object['spec'];
  if (!isObject(spec) || !Array.isArray(spec['containers'])) throw new AdmissionReviewError('request.object.spec.containers is missing; the object is not a Pod');
  for (const field of ['initContainers', 'volumes']) {
    const v = spec[field];
    if (v !== undefined && v !== null && !Array.isArray(v)) throw new AdmissionReviewError(`request.object.spec.${field} must be a list`);
  }
  const meta = request.object['metadata'];
  if (meta !== undefined && !isObject(meta)) throw new AdmissionReviewError('request.object.metadata must be an object');
  if (isObject(meta) && meta['labels'] !== undefined && meta['labels'] !== null && !isObject(meta['labels'])) {
    throw new AdmissionReviewError('request.object.metadata.labels must be an object');
  }
}

/** The response review: allowed, with the JSONPatch when there is one. */
export function admissionResponse(uid: string, patch: readonly JsonPatchOperation[] = [], warnings: readonly string[] = []): Record<string, unknown> {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: true,
      ...(patch.length === 0 ? {} : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }),
      ...(warnings.length === 0 ? {} : { warnings: [...warnings] }),
    },
  };
}

/**
 * The response review refusing the object: the API server fails the create with `admission webhook "..."
 * denied the request: <message>`, whatever the webhook's failurePolicy (the pod is wrong, not the webhook).
 */
export function admissionDenied(uid: string, message: string, code = 400): Record<string, unknown> {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid, allowed: false, status: { status: 'Failure', code, reason: 'Invalid', message } },
  };
}
