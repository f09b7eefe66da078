// The payload run, resume, status and cancel share: what `--json` prints and
// what the SDK returns.
import type { ChunkCounts, ChunkError, RunStatus, RunSummary } from '../core/core.js';
import type { Plan } from '../engine/plan_file.js';
import { eventPath, runPath, type StatePaths } from '../engine/store.js';

export interface RunPayload {
  ok: boolean;
  command: string;
  planId: string;
  target: string;
  strategy: string;
  /** copy: the table rows are read from. */
  source?: string;
  /** `planned` before the first run. */
  status: RunStatus | 'planned';
  chunkCounts: ChunkCounts;
  attempts: number;
  rowsWritten: number;
  runPath: string;
  eventPath: string;
  updatedAt: string | null;
  lastError?: ChunkError;
  chunksNeedingOperator?: number;
  unverifiedChunks?: number;
  /** The run failed or was not completed: why. */
  error?: string;
}

export function runPayload<C extends string, E extends object = object>(command: C, paths: StatePaths, plan: Plan, s: RunSummary, extra?: E): RunPayload & { command: C } & E {
  const payload: RunPayload = {
    ok: true,
    command,
    planId: plan.planId,
    target: plan.target,
    strategy: plan.strategy,
    ...(plan.source ? { source: plan.source } : {}),
    status: s.status ?? 'planned',
    chunkCounts: s.chunkCounts,
    attempts: s.attempts,
    rowsWritten: s.rowsWritten,
    runPath: runPath(paths, plan.planId),
    eventPath: eventPath(paths, plan.planId),
    updatedAt: s.updatedAt ? new Date(s.updatedAt).toISOString() : null,
    ...(extra ?? {}),
  };
  if (s.lastError) payload.lastError = s.lastError;
  if (s.needsOperator) payload.chunksNeedingOperator = s.needsOperator;
  if (s.unverified) payload.unverifiedChunks = s.unverified;
  return payload as RunPayload & { command: C } & E;
}
