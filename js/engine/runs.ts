// The stored run of a plan, read without touching ClickHouse: what `status`,
// `cancel`, `run` and `resume` report. Loading = snapshot + events after it.
import { planFacts, RunMachine, type RunSummary } from '../core/core.js';
import type { Plan } from './plan_file.js';
import type { Cx } from '../commands/command.js';
import { eventLogReader, eventPath, readTextIfExists, runPath, type StatePaths } from './store.js';
import { clip, wrap } from '../commands/output.js';

export interface LoadedRun {
  machine: RunMachine;
  summary: RunSummary;
  /** True when neither a snapshot nor an event exists: the plan has never run. */
  fresh: boolean;
}

export function loadRun(cx: Cx, plan: Plan): LoadedRun {
  return openRun(cx.paths, plan, cx.ctx.config.clickhouse?.database || 'default');
}

/** The run of `plan` as its state files hold it (the bench loads runs this way too). */
export function openRun(paths: StatePaths, plan: Plan, defaultDatabase: string): LoadedRun {
  const snapshot = readTextIfExists(runPath(paths, plan.planId));
  const machine = RunMachine.open(planFacts(plan, defaultDatabase), snapshot, eventLogReader(eventPath(paths, plan.planId)));
  const summary = machine.summary();
  return { machine, summary, fresh: summary.status === null };
}

/** Read-only: summarise and release the core's copy. */
export function readRunSummary(cx: Cx, plan: Plan): { summary: RunSummary; report: RunMachine['report'] } {
  const run = loadRun(cx, plan);
  try {
    return { summary: run.summary, report: run.machine.report };
  } finally {
    run.machine.close();
  }
}

/** The JSON payload shared by run, resume, status and cancel. */
export function runPayload(cx: Cx, plan: Plan, s: RunSummary, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    ok: true,
    command: cx.command,
    planId: plan.planId,
    target: plan.target,
    strategy: plan.strategy,
    status: s.status ?? 'planned',
    chunkCounts: s.chunkCounts,
    attempts: s.attempts,
    rowsWritten: s.rowsWritten,
    runPath: runPath(cx.paths, plan.planId),
    eventPath: eventPath(cx.paths, plan.planId),
    updatedAt: s.updatedAt ? new Date(s.updatedAt).toISOString() : null,
    ...extra,
  };
  if (s.lastError) payload.lastError = s.lastError;
  if (s.needsOperator) payload.chunksNeedingOperator = s.needsOperator;
  if (s.unverified) payload.unverifiedChunks = s.unverified;
  return payload;
}

export function summaryLines(plan: Plan, s: RunSummary): string[] {
  const c = s.chunkCounts;
  const lines = [
    `  target    ${plan.target} (strategy ${plan.strategy}${plan.source ? ` from ${plan.source}` : ''})`,
    `  chunks    ${c.done} done, ${c.failed} failed, ${c.skipped} skipped, ${c.pending} pending, ${c.running} running of ${c.total}`,
    `  rows      ${s.rowsWritten} written, ${s.attempts} attempts`,
  ];
  if (s.lastError) {
    const code = s.lastError.code !== undefined ? ` (${s.lastError.code}${s.lastError.type ? ` ${s.lastError.type}` : ''})` : s.lastError.type ? ` (${s.lastError.type})` : '';
    lines.push(...wrap(clip(s.lastError.message.split('\n')[0], 300), 80, `  last error${code}: `, '    '));
  }
  if (s.needsOperator) lines.push(`  ${s.needsOperator} chunk(s) need an operator: see lastError`);
  if (s.unverified) {
    lines.push(...wrap(`${s.unverified} chunk(s) re-sent after a crash wrote no rows, and no count can confirm them: compare the target with the view over their windows (status --chunks marks them)`, 80, '  ', '    '));
  }
  return lines;
}
