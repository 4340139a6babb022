import { ManifestFileError, parseManifests } from '@weft/core';
import type { ParseOutcome } from './state.js';

/**
 * Core's manifest parser, seen through what the source needs of it. `maxResources` is the room the folder's
 * object limit leaves for this file: a file defining more is rejected whole (ManifestFileError).
 */
export function parseManifestText(text: string, file: string, maxResources = Number.POSITIVE_INFINITY): ParseOutcome {
  const r = parseManifests(text, file);
  if (r.resources.length > maxResources) {
    throw new ManifestFileError(
      file,
      `defines ${r.resources.length} resources, more than the ${maxResources} the folder's limit leaves room for ` +
        '(maxObjects counts the resources of all files); split the folder or raise maxObjects',
    );
  }
  return {
    resources: r.resources,
    errors: r.errors.map((e) => ({ message: e.message, document: e.document, namespace: e.namespace, name: e.resourceName })),
    ignored: r.ignored.map((i) => `document ${i.document} (${i.kind}${i.name === null ? '' : ` ${i.name}`}): ${i.reason}`),
  };
}
