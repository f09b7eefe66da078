// `status`: the state of a plan's run from the state directory alone; never
// opens the database (a run may hold the embedded engine).
import { defineCommand, planIdFlag } from './command.js';
import { describeLiveHolder, planLockState } from '../engine/lock.js';
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
  const lock = planLockState(cx.paths, plan.planId);
  const l = lock?.liveness;
  const holder = l?.live ? lock!.info : undefined;
  // A run still marked running whose lock no process can still hold died: say so instead of
  // "running". A live holder, stopped or not, can still write: never "interrupted".
  const crashed = summary.status === 'running' && !holder;
  const extra: Record<string, unknown> = {};
  if (holder && l?.live) {
    extra.runner = {
      pid: holder.pid,
      host: holder.host,
      startedAt: holder.startedAt,
      heartbeatAt: holder.heartbeatAt,
      heartbeatAgeMs: l.heartbeatAgeMs,
      // This host: its process is alive; another host: only its heartbeat is known.
      alive: l.processSeen ? true : null,
      stopped: l.stopped,
      ...(l.advice ? { advice: l.advice } : {}),
    };
  }
  if (crashed) extra.interrupted = true;
  if (report.fencedLines) extra.fencedLines = report.fencedLines;
  if (report.tornTail) extra.tornTail = true;
  if (report.snapshotRebuilt) extra.snapshotRebuilt = true;
  if (chunks) extra.chunks = chunks;
  const verification = readVerification(cx, plan.planId);
  if (verification) extra.lastVerification = verification;
  const state = summary.status ?? 'planned';
  return {
    json: runPayload(cx, plan, summary, extra),
    text: [
      `Plan ${plan.planId}: ${state}${crashed ? ` (interrupted: ${interruptedWhy(lock)}; resume continues it)` : ''}${holder ? `, held by ${describeLiveHolder(holder, l!)}` : ''}`,
      ...summaryLines(plan, summary),
      ...(verification ? [`  ${verificationLine(verification)}`] : []),
      ...(chunks ? ['', ...chunkTableLines(chunks)] : []),
    ],
  };
  },
);

function interruptedWhy(lock: ReturnType<typeof planLockState>): string {
  if (!lock || lock.liveness.live) return 'no process holds its lock';
  // Another host's holder is presumed gone by its heartbeat; should it still run, it stops at its next write once the lock is taken over.
  return `no live process (${lock.liveness.reason})`;
}
