// `list`: every plan in the state directory with its run's progress.
import type { ListResult } from '../sdk/list.js';
import { defineCommand } from './command.js';

const day = (iso: string) => iso.replace(/T00:00:00\.000Z$/, '').replace(/:00\.000Z$/, 'Z').replace('T', ' ');

function listLines(r: ListResult): string[] {
  if (r.plans.length === 0) return [`No backfill plans in ${r.stateDir}`];
  return r.plans.flatMap((p) => {
    const c = p.chunkCounts;
    // Month-day and time keep the line within 80 columns; JSON has the full instants.
    const when = (p.updatedAt ?? p.createdAt).slice(5, 16).replace('T', ' ');
    return [
      `${p.planId}  ${p.status.padEnd(11)} ${p.target} (${p.strategy})`,
      `    ${day(p.from)} → ${day(p.to)}  ${c.done}/${c.total} chunks${c.failed ? `, ${c.failed} failed` : ''}  ${p.rowsWritten} rows  ${when}`,
    ];
  });
}

export const listCommand = defineCommand('list', 'List every plan with its status and progress', [], async (cx) => {
  const { listBackfills } = await import('../sdk/list.js');
  const result = await listBackfills(cx.session);
  return { json: result, text: listLines(result) };
});
