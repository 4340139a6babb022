/**
 * Runs a Dockerfile's recipe without a container engine: each stage gets a folder as its root file system,
 * COPY copies (from the build context, minus .dockerignore, or from an earlier stage), RUN runs the shell
 * command in the stage's WORKDIR, and the final stage's ENTRYPOINT can then be started. Only what Weft's
 * Dockerfile uses is understood (FROM, WORKDIR, COPY [--from], RUN, ENV, USER, EXPOSE, ENTRYPOINT, CMD);
 * anything else is an error, so the recipe cannot drift past what is exercised. RUN steps must use paths
 * relative to WORKDIR (the folder is not the container's /).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly from: string;
  readonly name: string | null;
  readonly steps: Instruction[];
}

/** Instructions, with comments dropped and continuation lines joined, grouped by FROM. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i += 1;
      // A comment line inside a continued instruction is dropped, as Docker does.
      if (/^\s*#/.test(lines[i]!)) {
        line = line.slice(0, -1) + '\\';
        continue;
      }
      line = line.slice(0, -1) + ' ' + lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (m === null) throw new Error(`Dockerfile line ${start}: not an instruction: ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (f === null) throw new Error(`Dockerfile line ${start}: FROM ${args} is not understood`);
      stages.push({ from: f[1]!, name: f[2] ?? null, steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`Dockerfile line ${start}: ${op} before FROM`);
    stage.steps.push({ op, args, line: start });
  }
  return stages;
}

/** .dockerignore patterns as a test on context-relative paths (`**` spans folders, `*` does not). */
export function dockerignore(text: string): (rel: string) => boolean {
  const res = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((p) => {
      if (p.startsWith('!')) throw new Error(`.dockerignore: exceptions (${p}) are not understood here`);
      const body = p
        .replace(/^\/+|\/+$/g, '')
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) =>
          part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return new RegExp(`^${body}$`);
    });
  return (rel) => res.some((r) => r.test(rel));
}

export interface StageResult {
  readonly root: string;
  readonly workdir: string;
  readonly env: Record<string, string>;
  readonly user: string | null;
  readonly entrypoint: string[] | null;
  readonly cmd: string[] | null;
}

/** Copies a file or a folder's contents, skipping what `skip` says (context-relative paths). */
function copyInto(src: string, dest: string, skip: (rel: string) => boolean, rel: string): void {
  const st = fs.lstatSync(src);
  if (st.isSymbolicLink()) {
    // Kept as a link, as docker build's COPY does (a link to a folder above it must not be walked).
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.symlinkSync(fs.readlinkSync(src), dest);
    return;
  }
  if (!st.isDirectory()) {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, st.mode & 0o777);
    return;
  }
  fs.mkdirSync(dest, { recursive: true });
  for (const entry of fs.readdirSync(src)) {
    const childRel = rel === '' ? entry : `${rel}/${entry}`;
    if (skip(childRel)) continue;
    copyInto(path.join(src, entry), path.join(dest, entry), skip, childRel);
  }
}

function run(command: string, cwd: string, env: Record<string, string>, log: (s: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      log(out);
      if (code === 0) resolve();
      else reject(new Error(`RUN ${command} exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

/**
 * Runs every stage's COPY and RUN steps under `dir` (one folder per stage) and returns what each stage
 * left: its root folder, WORKDIR, ENV, USER, ENTRYPOINT and CMD.
 */
export async function buildStages(
  stages: readonly Stage[],
  context: string,
  dir: string,
  log: (s: string) => void = () => undefined,
): Promise<StageResult[]> {
  const ignoreFile = path.join(context, '.dockerignore');
  const skip = dockerignore(fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8') : '');
  const results: StageResult[] = [];
  const byName = new Map<string, StageResult>();
  for (const [i, stage] of stages.entries()) {
    const root = path.join(dir, `${i}-${stage.name ?? 'final'}`);
    fs.mkdirSync(root, { recursive: true });
    let workdir = '/';
    const env: Record<string, string> = {};
    let user: string | null = null;
    let entrypoint: string[] | null = null;
    let cmd: string[] | null = null;
    const inRoot = (p: string): string => path.join(root, path.posix.resolve(workdir, p));
    for (const step of stage.steps) {
      const where = `Dockerfile line ${step.line} (${step.op})`;
      switch (step.op) {
        case 'WORKDIR':
          workdir = path.posix.resolve(workdir, step.args);
          fs.mkdirSync(inRoot('.'), { recursive: true });
          break;
        case 'ENV': {
          const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(step.args);
          if (m === null) throw new Error(`${where}: only ENV NAME=value is understood`);
          env[m[1]!] = m[2]!;
          break;
        }
        case 'COPY': {
          const words = step.args.split(/\s+/);
          let from: StageResult | null = null;
          while (words[0]?.startsWith('--')) {
            const flag = words.shift()!;
            const m = /^--from=(\S+)$/.exec(flag);
            if (m === null) throw new Error(`${where}: ${flag} is not understood`);
            from = byName.get(m[1]!) ?? null;
            if (from === null) throw new Error(`${where}: no earlier stage named ${m[1]}`);
          }
          const dest = words.pop()!;
          if (words.length === 0) throw new Error(`${where}: COPY needs a source and a destination`);
          for (const src of words) {
            const source = from === null ? path.join(context, src) : path.join(from.root, src);
            const destPath = inRoot(dest);
            const isDir = fs.statSync(source).isDirectory();
            // A file copied into a folder (dest ending in /, or several sources) keeps its name.
            const target = !isDir && (dest.endsWith('/') || words.length > 1) ? path.join(destPath, path.basename(src)) : destPath;
            const rel = from === null ? path.relative(context, source).split(path.sep).join('/') : '';
            copyInto(source, target, from === null ? skip : () => false, rel === '.' ? '' : rel);
          }
          break;
        }
        case 'RUN':
          if (step.args.startsWith('[')) throw new Error(`${where}: only the shell form of RUN is understood`);
          await run(step.args, inRoot('.'), env, log);
          break;
        case 'USER':
          user = step.args;
          break;
        case 'EXPOSE':
          break;
        case 'ENTRYPOINT':
        case 'CMD': {
          let parsed: unknown;
          try {
            parsed = JSON.parse(step.args);
          } catch {
            throw new Error(`${where}: only the exec form (a JSON list) is understood: the shell form would put sh, not node, at PID 1`);
          }
          if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`${where}: must be a list of strings`);
          if (step.op === 'ENTRYPOINT') entrypoint = parsed;
          else cmd = parsed;
          break;
        }
        default:
          throw new Error(`${where}: ${step.op} is not understood by this runner`);
      }
    }
    const result: StageResult = { root, workdir, env, user, entrypoint, cmd };
    results.push(result);
    if (stage.name !== null) byName.set(stage.name, result);
  }
  return results;
}
