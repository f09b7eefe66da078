// `status`: the state of a plan's run from the state directory alone; never
// opens the database (a run may hold the embedded engine).
import { defineCommand, planIdFlag } from './command.js';
import { planHolder, describeHolder } from '../engine/lock.js';
import { loadRun, runPayload, summaryLines } from '../engine/runs.js';
import { chunkRows, chunkTableLines, type ChunkRow } from './chunk_table.js';
import { checkPlanId, eventLogReader, eventPath, readPlan } from '../engine/store.js';
import { readVerification, verificationLine } from './verify.js';

export const statusCommand = defineCommand(
  'status',
  'Show the state of a plan and its run',
  [planIdFlag, { name: '--chunks', type: 'boolean', description: 'Add a table of chunks (failed first)' }],
  async (cx) => {
  const plan = readPlan(cx.paths, checkPlanId(cx.string('--plan-id')));
  const run = loadRun(cx, plan);
  const { summary, machine } = run;
  let chunks: ChunkRow[] | undefined;
  try {
    if (cx.bool('--chunks')) chunks = chunkRows(plan, run, eventLogReader(eventPath(cx.paths, plan.planId)));
  } finally {
    machine.close();
  }
  const report = machine.report;
  const holder = planHolder(cx.paths, plan.planId);
  // A run still marked running without a live lock died: say so instead of "running".
  const crashed = summary.status === 'running' && !holder;
  const extra: Record<string, unknown> = {};
  if (holder) extra.runner = { pid: holder.pid, host: holder.host, startedAt: holder.startedAt, heartbeatAt: holder.heartbeatAt };
  if (crashed) extra.interrupted = true;
  if (report.tornTail) extra.tornTail = true;
  if (report.snapshotRebuilt) extra.snapshotRebuilt = true;
  if (chunks) extra.chunks = chunks;
  const verification = readVerification(cx, plan.planId);
  if (verification) extra.lastVerification = verification;
  const state = summary.status ?? 'planned';
  return {
    json: runPayload(cx, plan, summary, extra),
    text: [
      `Plan ${plan.planId}: ${state}${crashed ? ' (interrupted: no live process; resume continues it)' : ''}${holder ? ` by ${describeHolder(holder)}` : ''}`,
      ...summaryLines(plan, summary),
      ...(verification ? [`  ${verificationLine(verification)}`] : []),
      ...(chunks ? ['', ...chunkTableLines(chunks)] : []),
    ],
  };
  },
);
