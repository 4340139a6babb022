import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseManifests } from '../model/parse.js';
import { danglingReferences } from '../model/references.js';
import type { NormalizedResource } from '../model/validate.js';
import { displayPath } from '../runtime/config.js';

/**
 * `weft validate`: the same parsing and normalization the files source applies, over files and folders,
 * reporting every error at once. Pure over the texts it is given (readManifestTree does the reading).
 */

const MANIFEST = /\.(ya?ml|json)$/i;

export interface ValidationReport {
  readonly files: number;
  /** Resources that would load, per kind. */
  readonly valid: ReadonlyMap<string, number>;
  readonly errors: readonly string[];
  /** Documents of kinds the mesh does not read (Deployments, ConfigMaps, ...), with the reason. */
  readonly ignored: readonly string[];
  /** References to resources none of the texts define (a TrafficSplit's missing backend): loaded all the same. */
  readonly warnings: readonly string[];
}

/** Files under the given paths: a file as given, a folder recursively (*.yaml, *.yml, *.json; dot-entries skipped). */
export function manifestFiles(paths: readonly string[], cwd: string = process.cwd()): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = (dir: string): void => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && MANIFEST.test(e.name)) files.push(p);
    }
  };
  for (const given of paths) {
    const abs = path.resolve(cwd, given);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(abs);
    } catch {
      missing.push(given);
      continue;
    }
    if (stat.isDirectory()) walk(abs);
    else files.push(abs);
  }
  return { files: [...new Set(files)], missing };
}

/** Validates texts keyed by display name; a resource defined in two files is an error naming both. */
export function validateTexts(texts: ReadonlyMap<string, string>): ValidationReport {
  const valid = new Map<string, number>();
  const errors: string[] = [];
  const ignored: string[] = [];
  const definedIn = new Map<string, string>();
  const loaded: NormalizedResource[] = [];
  for (const [file, text] of texts) {
    const result = parseManifests(text, file);
    for (const e of result.errors) errors.push(e.message);
    for (const i of result.ignored) {
      const name = i.name === null ? '' : ` ${i.namespace ? `${i.namespace}/` : ''}${i.name}`;
      ignored.push(`${i.file} document ${i.document} (${i.kind}${name}): ${i.reason}`);
    }
    for (const r of result.resources) {
      const id = `${r.kind} ${r.key}`;
      const first = definedIn.get(id);
      if (first !== undefined && first !== file) {
        errors.push(`${file}: ${id} is also defined in ${first}; a resource may be defined in one file only`);
        continue;
      }
      definedIn.set(id, file);
      valid.set(r.kind, (valid.get(r.kind) ?? 0) + 1);
      loaded.push(r);
    }
  }
  const warnings = danglingReferences(loaded).map(
    (d) => `${definedIn.get(`${d.kind} ${d.key}`) ?? '?'} (${d.kind} ${d.key}): ${d.path}: ${d.rule}`,
  );
  return { files: texts.size, valid, errors, ignored, warnings };
}

export function formatReport(report: ValidationReport, missing: readonly string[]): string {
  const lines: string[] = [];
  for (const m of missing) lines.push(`error: ${m}: no such file or directory`);
  for (const e of report.errors) lines.push(`error: ${e}`);
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  for (const i of report.ignored) lines.push(`ignored: ${i}`);
  const total = [...report.valid.values()].reduce((a, b) => a + b, 0);
  const kinds = [...report.valid.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const problems = report.errors.length + missing.length;
  lines.push(
    `${report.files} file(s), ${total} valid resource(s)${kinds === '' ? '' : ` (${kinds})`}, ` +
      `${report.ignored.length} ignored document(s), ${problems} error(s)` +
      (report.warnings.length === 0 ? '' : `, ${report.warnings.length} warning(s)`),
  );
  return `${lines.join('\n')}\n`;
}

/** Reads and validates; returns the report text and whether everything was valid. */
export function validatePaths(paths: readonly string[], cwd: string = process.cwd()): { text: string; ok: boolean } {
  const { files, missing } = manifestFiles(paths, cwd);
  const texts = new Map<string, string>();
  for (const f of files) texts.set(displayPath(f, cwd), fs.readFileSync(f, 'utf8'));
  const report = validateTexts(texts);
  if (files.length === 0 && missing.length === 0) {
    // Validating nothing is almost always a wrong path; saying "0 errors" would hide it.
    return { text: `error: no manifest files (*.yaml, *.yml, *.json) under ${paths.join(', ')}\n`, ok: false };
  }
  return { text: formatReport(report, missing), ok: report.errors.length === 0 && missing.length === 0 };
}
