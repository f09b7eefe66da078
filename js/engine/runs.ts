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

export function loadRun(at: RunPlace, plan: Plan): LoadedRun {
  return openRun(at.paths, plan, at.defaultDatabase);
}

/** The run of `plan` as its state files hold it (the bench loads runs this way too). */
export function openRun(paths: StatePaths, plan: Plan, defaultDatabase: string): LoadedRun {
  const snapshot = readTextIfExists(runPath(paths, plan.planId));
  const machine = RunMachine.open(planFacts(plan, defaultDatabase), snapshot, eventLogReader(eventPath(paths, plan.planId)));
  const summary = machine.summary();
  return { machine, summary, fresh: summary.status === null };
}

/** Read-only: summarise and release the core's copy. */
export function readRunSummary(at: RunPlace, plan: Plan): { summary: RunSummary; report: RunMachine['report'] } {
  const run = loadRun(at, plan);
  try {
    return { summary: run.summary, report: run.machine.report };
  } finally {
    run.machine.close();
  }
}

/**
 * What the machine needs of a plan: the header, and the first and last chunk
 * for the core to check its own cut of the window against (src/run_state.rs).
 */
export function planFacts(plan: Plan, defaultDatabase: string): Record<string, unknown> {
  const n = plan.chunkCount;
  const first = n > 0 ? plan.chunk(0) : undefined;
  const last = n > 1 ? plan.chunk(n - 1) : first;
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
    chunkCount: plan.chunkCount,
    firstChunk: edge(first),
    lastChunk: edge(last),
  };
}
