import { WeftError } from '../errors.js';

/** Where a manifest problem sits, as precisely as it is known. */
export interface ManifestLocation {
  /** The file name as the caller gave it (a display name, not necessarily a path on disk). */
  readonly file: string;
  /** 0-based index of the YAML document (or of the element of a top-level JSON array). */
  readonly document: number;
  /** The manifest kind (e.g. "Pod", "TrafficSplit"), when the document got far enough to have one. */
  readonly kind: string | null;
  readonly namespace: string | null;
  readonly name: string | null;
}

/**
 * A manifest that cannot be loaded as written. One error per broken rule; a file yields all of them at once
 * so the user can fix everything in one pass.
 */
export class ManifestError extends WeftError {
  readonly file: string;
  readonly document: number;
  readonly kind: string | null;
  readonly namespace: string | null;
  /**
   * The resource's metadata.name when known. Not `name`: on an Error that is the error class's name, which
   * stack traces and loggers print.
   */
  readonly resourceName: string | null;
  /** Dotted path inside the document, e.g. "spec.backends[1].weight"; "" for the document as a whole. */
  readonly path: string;
  /** The rule that was broken, e.g. "must be a non-negative integer, got -5". */
  readonly rule: string;
  /** 1-based line in the file, for syntax errors (the parser knows it; normalization does not). */
  readonly line: number | null;

  constructor(location: ManifestLocation, path: string, rule: string, line: number | null = null) {
    super('MANIFEST_INVALID', formatManifestMessage(location, path, rule));
    this.file = location.file;
    this.document = location.document;
    this.kind = location.kind;
    this.namespace = location.namespace;
    this.resourceName = location.name;
    this.path = path;
    this.rule = rule;
    this.line = line;
  }
}

function formatManifestMessage(loc: ManifestLocation, path: string, rule: string): string {
  let head = `${loc.file} document ${loc.document}`;
  if (loc.kind !== null) {
    const name = loc.name ?? '<unnamed>';
    head += ` (${loc.kind} ${loc.namespace !== null && loc.namespace !== '' ? `${loc.namespace}/${name}` : name})`;
  }
  return path === '' ? `${head}: ${rule}` : `${head}: ${path}: ${rule}`;
}
