/**
 * Manifest text -> normalized mesh resources. Pure: text in, result out; reading files is the sources' job.
 *
 * Accepts a multi-document YAML stream, or JSON (JSON is YAML, so one parser serves both and syntax errors
 * carry a line either way): a single object, a `kind: List` with `items`, or a top-level array of objects.
 * Every problem of the file is reported, and a broken document never keeps the others from loading: not
 * even one whose aliases would expand without bound.
 * See validate.ts for which kinds load (notably: Pods, not Deployments).
 */
import { parseAllDocuments, type Document } from 'yaml';
import { ManifestError } from './errors.js';
import { isObj } from './fields.js';
import { normalizeManifest, ParseResult } from './validate.js';

/**
 * YAML syntax errors reported per document. One broken document is rejected whole anyway, and a file of
 * garbage can hold one error per byte: past the first few they say nothing new and only flood the log.
 */
const MAX_SYNTAX_ERRORS = 10;

export function parseManifests(text: string, file: string): ParseResult {
  const out: ParseResult = { resources: [], errors: [], ignored: [] };
  const json = parseJson(text);
  const parsed = json === undefined ? parseAllDocuments(text, { prettyErrors: true }) : [];
  const docs = Array.isArray(parsed) ? parsed : [];
  const firstSeen = new Map<string, number>();

  const take = (value: unknown, document: number, pathPrefix?: string): void => {
    const r = normalizeManifest(value, pathPrefix === undefined ? { file, document } : { file, document, pathPrefix });
    out.errors.push(...r.errors);
    out.ignored.push(...r.ignored);
    for (const res of r.resources) {
      const id = `${res.kind} ${res.key}`;
      const first = firstSeen.get(id);
      if (first !== undefined) {
        // The later copy would silently replace the earlier one: almost always a copy-paste slip.
        const meta = res.body.meta;
        out.errors.push(
          new ManifestError(
            { file, document, kind: manifestKindOf(value), namespace: meta.namespace || null, name: meta.name },
            pathPrefix ?? '',
            `repeats the ${res.kind} ${res.key} of document ${first}; give each resource once per file`,
          ),
        );
        continue;
      }
      firstSeen.set(id, document);
      out.resources.push(res);
    }
  };

  const takeDocument = (value: unknown, index: number, count: number): void => {
    if (value === null || value === undefined) return; // an empty document (e.g. a trailing "---")
    if (Array.isArray(value)) {
      value.forEach((el, j) => (count === 1 ? take(el, j) : take(el, index, `[${j}]`)));
      return;
    }
    if (isObj(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      value.items.forEach((el, j) => take(el, index, `items[${j}]`));
      return;
    }
    take(value, index);
  };

  if (json !== undefined) {
    takeDocument(json.value, 0, 1);
    return out;
  }
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors.slice(0, MAX_SYNTAX_ERRORS)) {
        const pos = err.linePos?.[0];
        const where = pos === undefined ? '' : ` at line ${pos.line}, column ${pos.col}`;
        // The parser's message repeats the position and appends a source excerpt; keep the first sentence.
        const reason = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
        out.errors.push(
          new ManifestError(
            { file, document: index, kind: null, namespace: null, name: null },
            '',
            `YAML syntax error${where}: ${reason}`,
            pos?.line ?? null,
          ),
        );
      }
      if (doc.errors.length > MAX_SYNTAX_ERRORS) {
        out.errors.push(
          new ManifestError(
            { file, document: index, kind: null, namespace: null, name: null },
            '',
            `${doc.errors.length - MAX_SYNTAX_ERRORS} more YAML syntax errors; fix the ones above first`,
          ),
        );
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // The parser refuses to expand aliases past its bound (maxAliasCount, 100), which is what a
      // "billion laughs" document needs: that document is rejected, the file's others still load.
      out.errors.push(
        new ManifestError(
          { file, document: index, ...declaredBy(doc) },
          '',
          `cannot be expanded: ${(err as Error).message}; write the repeated parts out instead of nesting aliases`,
        ),
      );
      return;
    }
    takeDocument(value, index, docs.length);
  });
  return out;
}

/** What a document declares, read from its syntax tree (plain scalars only) when it cannot be converted. */
function declaredBy(doc: Document): { kind: string | null; namespace: string | null; name: string | null } {
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    kind: text(doc.get('kind')),
    namespace: text(doc.getIn(['metadata', 'namespace'])),
    name: text(doc.getIn(['metadata', 'name'])),
  };
}

/**
 * JSON goes through JSON.parse, an order of magnitude faster than the YAML parser. Text that is not valid
 * JSON returns undefined and takes the YAML path, whose syntax errors carry a line and column.
 */
function parseJson(text: string): { value: unknown } | undefined {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // reported, with its line, by the YAML parser
    throw err;
  }
}

function manifestKindOf(value: unknown): string | null {
  return isObj(value) && typeof value.kind === 'string' ? value.kind : null;
}
