// The stored run of a plan, read without touching ClickHouse: what `status`,
// `cancel`, `run` and `resume` report. Loading = snapshot + events after it.
import { RunMachine, type PlanChunk, type RunSummary } from '../core/core.js';
import type { Plan } from './plan_file.js';
import { eventLogReader, eventPath, readTextIfExists, runPath, type StatePaths } from './store.js';

export interface LoadedRun {
  machine: RunMachine;
  summary: RunSummary;
  /** True when neither a snapshot nor an event exists: the plan has never run. */
  fresh: boolean;
}

/** Where runs live and which database unqualified names belong to. */
export interface RunPlace {
  paths: StatePaths;
  defaultDatabase: string;
}

/**
 * How much of the plan file the core checks its cut of the window against: `whole` counts
 * the chunk lines and reads the last (a run, and whatever walks the chunks); `summary` reads
 * the header and the first chunk only, so a report costs the same for a plan of 100,000 chunks.
 */
export type PlanReading = 'whole' | 'summary';

export function loadRun(at: RunPlace, plan: Plan, reading: PlanReading = 'whole'): LoadedRun {
  return openRun(at.paths, plan, at.defaultDatabase, reading);
}

/** The run of `plan` as its state files hold it (the bench loads runs this way too). */
export function openRun(paths: StatePaths, plan: Plan, defaultDatabase: string, reading: PlanReading = 'whole'): LoadedRun {
  const snapshot = readTextIfExists(runPath(paths, plan.planId));
  const machine = RunMachine.open(planFacts(plan, defaultDatabase, reading), snapshot, eventLogReader(eventPath(paths, plan.planId)));
  const summary = machine.summary();
  return { machine, summary, fresh: summary.status === null };
}

/** Read-only: summarise and release the core's copy. */
export function readRunSummary(at: RunPlace, plan: Plan, reading: PlanReading = 'summary'): { summary: RunSummary; report: RunMachine['report'] } {
  const run = loadRun(at, plan, reading);
  try {
    return { summary: run.summary, report: run.machine.report };
  } finally {
    run.machine.close();
  }
}

/**
 * What the machine needs of a plan: the header, and the chunks the core checks its own cut
 * of the window against (src/run_state.rs): the count and the first and last chunk, or with
 * `summary` the first chunk alone.
 */
export function planFacts(plan: Plan, defaultDatabase: string, reading: PlanReading = 'whole'): Record<string, unknown> {
  const n = reading === 'whole' ? plan.chunkCount : undefined;
  const first = plan.firstChunk();
  const last = n === undefined ? undefined : n > 1 ? plan.chunk(n - 1) : first;
  const edge = (c: PlanChunk | undefined) => (c ? { id: c.id, from: c.from, to: c.to } : null);
  return {
    planId: plan.planId,
    strategy: plan.strategy,
    target: plan.target,
    source: plan.source,
    timeColumn: plan.timeColumn,
    columns: plan.columns,
    defaultDatabase,
    from: plan.from,
    to: plan.to,
    chunkHours: plan.chunkHours,
    volume: plan.volume,
    statementsPerChunk: first?.statements?.length ?? 1,
    chunkCount: n ?? null,
    firstChunk: edge(first),
    lastChunk: edge(last),
  };
}
