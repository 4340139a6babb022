import type { Step } from './replay.js';

/** One line per batch, then one indented line per proxy that changed: what `weft replay --step` prints. */
export function formatStep(step: Step): string {
  const first = step.events[0];
  const last = step.events[step.events.length - 1];
  if (first === undefined || last === undefined) return '';
  const what =
    step.events.length === 1
      ? `${first.source} ${first.op} ${first.kind} ${first.key}`
      : `batch of ${step.events.length} events from ${first.source} (${summarize(step)})`;
  const offsets = first.offset === last.offset ? `@${first.offset}` : `@${first.offset}..${last.offset}`;
  const lines = [`${offsets}\t${last.time}\t${what}\t-> ${step.proxiesChanged} ${step.proxiesChanged === 1 ? 'proxy' : 'proxies'} changed`];
  for (const p of step.proxies) {
    const sign = { added: '+', removed: '-', changed: '~' } as const;
    const resources = p.resources.map((r) => `${r.type} ${sign[r.change]}${r.name}`).join(', ');
    lines.push(`    ${p.uuid} (${p.namespace}/${p.serviceAccount}) ${p.change}${resources === '' ? '' : `: ${resources}`}`);
  }
  return `${lines.join('\n')}\n`;
}

function summarize(step: Step): string {
  const counts = new Map<string, number>();
  for (const e of step.events) counts.set(`${e.op} ${e.kind}`, (counts.get(`${e.op} ${e.kind}`) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}
