import type { EventInput, ResourceKind } from '@weft/core';

/**
 * The pure half of the files source: what each file last contributed, which file owns a resource when two
 * define it, and the events that move the published state to the desired one. No I/O here.
 */

export interface ParsedResource {
  readonly kind: ResourceKind;
  readonly key: string;
  readonly body: unknown;
}

/** What the manifest parser reports about a broken document (core's ManifestError has these fields). */
export interface DocumentProblem {
  readonly message: string;
  readonly document: number;
  readonly namespace: string | null;
  readonly name: string | null;
}

export interface ParseOutcome {
  readonly resources: readonly ParsedResource[];
  readonly errors: readonly DocumentProblem[];
  /** Documents of kinds the mesh does not read, described for the log. */
  readonly ignored?: readonly string[];
}

export interface Conflict {
  readonly id: string;
  /** The file whose definition is in force. */
  readonly kept: string;
  readonly ignored: string;
}

export interface FileUpdate {
  /** Resources of the previous good version kept in force because their document is broken now. */
  readonly kept: readonly string[];
  /** Resources defined twice in this one file (the first definition wins). */
  readonly duplicates: readonly string[];
}

export const idOf = (r: { readonly kind: string; readonly key: string }): string => `${r.kind}/${r.key}`;

/** Does a resource (by key) look like the one a broken document was declaring? */
function declaredBy(key: string, problem: DocumentProblem): boolean {
  if (problem.name === null) return false;
  if (key === problem.name) return true;
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(slash + 1) !== problem.name) return false;
  return problem.namespace === null || problem.namespace === '' || key.slice(0, slash) === problem.namespace;
}

export class FolderState {
  /** file -> id -> resource in force from that file (the last good version of each document). */
  private readonly files = new Map<string, Map<string, ParsedResource>>();
  /** id -> file whose definition is in force, so an edit in a second file cannot steal a resource. */
  private readonly owners = new Map<string, string>();
  /** Resources of all files (kept up to date, as the source asks for it once per file of every scan). */
  private total = 0;

  /**
   * Takes a file's fresh parse. Valid documents replace what the file had; for a broken document the
   * previous good version of what it declared stays in force. When the parser could not even tell what
   * a broken document declares (a YAML syntax error), nothing of the file's previous version is dropped.
   */
  updateFile(file: string, outcome: ParseOutcome): FileUpdate {
    const next = new Map<string, ParsedResource>();
    const duplicates: string[] = [];
    for (const r of outcome.resources) {
      const id = idOf(r);
      if (next.has(id)) duplicates.push(id);
      else next.set(id, r);
    }
    const kept: string[] = [];
    const previous = this.files.get(file);
    if (previous !== undefined && outcome.errors.length > 0) {
      const anonymous = outcome.errors.some((e) => e.name === null);
      for (const [id, r] of previous) {
        if (next.has(id)) continue;
        if (anonymous || outcome.errors.some((e) => declaredBy(r.key, e))) {
          next.set(id, r);
          kept.push(id);
        }
      }
    }
    this.setFile(file, next);
    return { kept: kept.sort(), duplicates };
  }

  /**
   * A file rejected whole (too large, unreadable, over the object limit): what it last contributed stays in
   * force, as for a file that no longer parses; a file never loaded contributes nothing.
   */
  rejectFile(file: string): FileUpdate {
    const previous = this.files.get(file) ?? new Map<string, ParsedResource>();
    this.setFile(file, previous);
    return { kept: [...previous.keys()].sort(), duplicates: [] };
  }

  removeFile(file: string): void {
    this.total -= this.files.get(file)?.size ?? 0;
    this.files.delete(file);
  }

  /** Resources the files contribute, all but `except`'s. */
  resourceCount(except?: string): number {
    return this.total - (except === undefined ? 0 : (this.files.get(except)?.size ?? 0));
  }

  private setFile(file: string, resources: Map<string, ParsedResource>): void {
    this.total += resources.size - (this.files.get(file)?.size ?? 0);
    this.files.set(file, resources);
  }

  fileNames(): string[] {
    return [...this.files.keys()].sort();
  }

  /** The resources in force across all files, and the definitions ignored because another file has them. */
  desired(): { resources: Map<string, ParsedResource>; conflicts: Conflict[] } {
    const resources = new Map<string, ParsedResource>();
    const owner = new Map<string, string>();
    const conflicts: Conflict[] = [];
    // The current owner keeps a resource as long as it still defines it; new ones go to the first file
    // in path order, so the outcome does not depend on the order in which edits arrived.
    for (const [id, file] of this.owners) {
      const r = this.files.get(file)?.get(id);
      if (r !== undefined) {
        resources.set(id, r);
        owner.set(id, file);
      }
    }
    for (const file of this.fileNames()) {
      for (const [id, r] of this.files.get(file)!) {
        const o = owner.get(id);
        if (o === undefined) {
          resources.set(id, r);
          owner.set(id, file);
        } else if (o !== file) {
          conflicts.push({ id, kept: o, ignored: file });
        }
      }
    }
    this.owners.clear();
    for (const [id, file] of owner) this.owners.set(id, file);
    conflicts.sort((a, b) => (a.id === b.id ? a.ignored.localeCompare(b.ignored) : a.id.localeCompare(b.id)));
    return { resources, conflicts };
  }
}

/**
 * Events taking `published` (what the log holds from this source) to `desired`, sorted by id so that the
 * same folder always gives the same batch. An upsert is emitted only when the body's content differs.
 */
export function diffResources(
  source: string,
  published: ReadonlyMap<string, { readonly kind: ResourceKind; readonly key: string; readonly body: unknown }>,
  desired: ReadonlyMap<string, ParsedResource>,
  same: (a: unknown, b: unknown) => boolean,
): EventInput[] {
  const events: EventInput[] = [];
  const ids = new Set([...published.keys(), ...desired.keys()]);
  for (const id of [...ids].sort()) {
    const want = desired.get(id);
    const have = published.get(id);
    if (want === undefined) {
      if (have !== undefined) events.push({ source, op: 'delete', kind: have.kind, key: have.key });
    } else if (have === undefined || !same(have.body, want.body)) {
      events.push({ source, op: 'upsert', kind: want.kind, key: want.key, body: want.body });
    }
  }
  return events;
}
