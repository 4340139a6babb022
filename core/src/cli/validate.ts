import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MAX_FILE_BYTES, listManifestFilesSync, ManifestFileError, readManifestFileSync } from '../model/manifest-folder.js';
import { parseManifests } from '../model/parse.js';
import { danglingReferences, unselectedServices } from '../model/references.js';
import type { NormalizedResource } from '../model/validate.js';
import { displayPath } from '../runtime/config.js';

/**
 * `weft validate`: the same parsing and normalization the files source applies, over files and folders,
 * reporting every error at once. Pure over the texts it is given (readManifestTree does the reading).
 */

export interface ValidationReport {
  readonly files: number;
  /** Resources that would load, per kind. */
  readonly valid: ReadonlyMap<string, number>;
  readonly errors: readonly string[];
  /** Documents of kinds the mesh does not read (Deployments, ConfigMaps, ...), with the reason. */
  readonly ignored: readonly string[];
  /**
   * References to resources none of the texts define (a TrafficSplit's missing backend), Services that select
   * no Pod and have no Endpoints: loaded all the same.
   */
  readonly warnings: readonly string[];
}

/**
 * Files under the given paths: a file as given, a folder by the files source's rules (manifest-folder.ts:
 * recursive, *.yaml, *.yml, *.json, dot-entries skipped, symlinks followed). `skipped`: symlinks not
 * followed (loops, second routes to a folder), "path: reason".
 */
export function manifestFiles(
  paths: readonly string[],
  cwd: string = process.cwd(),
): { files: string[]; missing: string[]; skipped: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const skipped: string[] = [];
  const walk = (dir: string): void => {
    const listing = listManifestFilesSync(dir);
    for (const f of listing.files) files.push(path.join(dir, f));
    for (const s of listing.skipped) skipped.push(`${displayPath(path.join(dir, s.path), cwd)}: ${s.reason}`);
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
  return { files: [...new Set(files)], missing, skipped };
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
  const warnings = [...danglingReferences(loaded), ...unselectedServices(loaded)].map(
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
  const { files, missing, skipped } = manifestFiles(paths, cwd);
  const texts = new Map<string, string>();
  // Files rejected whole, as the files source rejects them (over its default size limit, unreadable).
  const rejected: string[] = [];
  for (const f of files) {
    const file = displayPath(f, cwd);
    try {
      texts.set(file, readManifestFileSync(f, file, DEFAULT_MAX_FILE_BYTES).toString('utf8'));
    } catch (err) {
      rejected.push(err instanceof ManifestFileError ? err.message : `${file}: cannot be read: ${(err as Error).message}`);
    }
  }
  const parsed = validateTexts(texts);
  const report: ValidationReport = {
    ...parsed,
    files: files.length,
    errors: [...rejected, ...parsed.errors],
    warnings: [...skipped, ...parsed.warnings],
  };
  if (files.length === 0 && missing.length === 0) {
    // Validating nothing is almost always a wrong path; saying "0 errors" would hide it.
    return { text: `error: no manifest files (*.yaml, *.yml, *.json) under ${paths.join(', ')}\n`, ok: false };
  }
  return { text: formatReport(report, missing), ok: report.errors.length === 0 && missing.length === 0 };
}
