/** The mesh model: resource types and manifest validation/normalization (what core/src/index.ts re-exports). */
export * from './types.js';
export * from './errors.js';
export { parseManifests } from './parse.js';
export { normalizeManifest, MANIFEST_KINDS } from './validate.js';
export type { NormalizedResource, IgnoredDocument, ParseResult, DocumentOrigin } from './validate.js';
export { parseDuration, isCidr, isIpAddress } from './values.js';
export { danglingReferences, unselectedServices } from './references.js';
export type { DanglingReference, ReferringResource, SetWarning } from './references.js';
export { appProtocolFromPortName, MONITORED_BY_LABEL, PROXY_UUID_LABEL } from './kinds-core.js';
