/** Command-line and timing helpers shared by the stand-alone benchmarks. */

/** `--<name> <n>`: a positive whole number, or `fallback` when the flag is absent. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${name} must be a positive whole number`);
  return v;
}

/** `--<name> <text>`: the text ('' when the flag ends the line), or undefined when the flag is absent. */
export function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? '') : undefined;
}

/** CPU time (user + system) of this process since `since`, in ms: unlike wall time, not inflated by other load. */
export function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}
