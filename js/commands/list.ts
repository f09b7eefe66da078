// `list`: every plan in the state directory with its run's progress.
// Reads state files only; never opens the database.
import { defineCommand } from './command.js';
import { planHolder } from '../engine/lock.js';
import { readRunSummary } from '../engine/runs.js';
import { listPlanIds, readPlan } from '../engine/store.js';

const day = (iso: string) => iso.replace(/T00:00:00\.000Z$/, '').replace(/:00\.000Z$/, 'Z').replace('T', ' ');

export const listCommand = defineCommand('list', 'List every plan with its status and progress', [], async (cx) => {
  const plans = listPlanIds(cx.paths).map((planId) => {
    const plan = readPlan(cx.paths, planId);
    const { summary: s } = readRunSummary(cx, plan);
    const holder = planHolder(cx.paths, planId);
    const status = s.status === 'running' && !holder ? 'interrupted' : (s.status ?? 'planned');
    return {
      planId,
      target: plan.target,
      strategy: plan.strategy,
      from: plan.from,
      to: plan.to,
      status,
      chunkCounts: s.chunkCounts,
      rowsWritten: s.rowsWritten,
      createdAt: plan.createdAt,
      updatedAt: s.updatedAt ? new Date(s.updatedAt).toISOString() : null,
    };
  });
  plans.sort((a, b) => (b.updatedAt ?? b.createdAt).localeCompare(a.updatedAt ?? a.createdAt));
  const text =
    plans.length === 0
      ? [`No backfill plans in ${cx.paths.root}`]
      : plans.flatMap((p) => {
          const c = p.chunkCounts;
          // Month-day and time keep the line within 80 columns; JSON has the full instants.
          const when = (p.updatedAt ?? p.createdAt).slice(5, 16).replace('T', ' ');
          return [
            `${p.planId}  ${p.status.padEnd(11)} ${p.target} (${p.strategy})`,
            `    ${day(p.from)} → ${day(p.to)}  ${c.done}/${c.total} chunks${c.failed ? `, ${c.failed} failed` : ''}  ${p.rowsWritten} rows  ${when}`,
          ];
        });
  return { json: { ok: true, command: 'list', stateDir: cx.paths.root, plans }, text };
});
