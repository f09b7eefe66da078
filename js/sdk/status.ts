// The state of a plan's run from the state directory alone; never opens the
// database (a run may hold the embedded engine).
import { describeLiveHolder, planLockState } from '../engine/lock.js';
import { loadRun } from '../engine/runs.js';
import { checkPlanId, eventLogReader, eventPath, readPlan } from '../engine/store.js';
import { chunkRows, type ChunkRow } from '../engine/chunk_rows.js';
import { operation } from './errors.js';
import { runPayload, type RunPayload } from './payload.js';
import type { BackfillConfig, Session } from './session.js';
import { readVerification, type StoredVerification } from './verify.js';

export interface StatusRequest {
  planId: string;
  /** Add every chunk's row (failed first). */
  chunks?: boolean;
}

export interface Runner {
  pid: number;
  host: string;
  startedAt: string;
  heartbeatAt: string;
  heartbeatAgeMs: number | null;
  /** This host: its process is alive; another host: unknown (only its heartbeat is). */
  alive: true | null;
  stopped: boolean;
  advice?: string;
  /** The holder in one phrase, as the commands print it. */
  description: string;
}

export interface StatusResult extends RunPayload {
  command: 'status';
  runner?: Runner;
  /** Marked running, but no process can still write it: `resume` continues it. */
  interrupted?: true;
  interruptedReason?: string;
  fencedLines?: number;
  tornTail?: true;
  snapshotRebuilt?: true;
  chunks?: ChunkRow[];
  lastVerification?: StoredVerification;
}

export function backfillStatus(config: BackfillConfig | Session, req: StatusRequest): Promise<StatusResult> {
  return operation(config, (s) => {
    const plan = readPlan(s.paths, checkPlanId(req.planId));
    // The chunks' lines are read only to list them (`run` checks them all before it executes).
    const run = loadRun(s, plan, req.chunks ? 'whole' : 'summary');
    const { summary, machine } = run;
    let chunks: ChunkRow[] | undefined;
    try {
      if (req.chunks) chunks = chunkRows(plan, run, eventLogReader(eventPath(s.paths, plan.planId)));
    } finally {
      machine.close();
    }
    const report = machine.report;
    const lock = planLockState(s.paths, plan.planId);
    const l = lock?.liveness;
    const holder = l?.live ? lock!.info : undefined;
    // A run still marked running whose lock no process can still hold died: say so instead of
    // "running". A live holder, stopped or not, can still write: never "interrupted".
    const crashed = summary.status === 'running' && !holder;
    const extra: Partial<StatusResult> = {};
    if (holder && l?.live) {
      extra.runner = {
        pid: holder.pid,
        host: holder.host,
        startedAt: holder.startedAt,
        heartbeatAt: holder.heartbeatAt,
        heartbeatAgeMs: l.heartbeatAgeMs,
        alive: l.processSeen ? true : null,
        stopped: l.stopped,
        ...(l.advice ? { advice: l.advice } : {}),
        description: describeLiveHolder(holder, l),
      };
    }
    if (crashed) {
      extra.interrupted = true;
      extra.interruptedReason = interruptedWhy(lock);
    }
    if (report.fencedLines) extra.fencedLines = report.fencedLines;
    if (report.tornTail) extra.tornTail = true;
    if (report.snapshotRebuilt) extra.snapshotRebuilt = true;
    if (chunks) extra.chunks = chunks;
    const verification = readVerification(s.paths, plan.planId);
    if (verification) extra.lastVerification = verification;
    return runPayload('status', s.paths, plan, summary, extra) as StatusResult;
  });
}

function interruptedWhy(lock: ReturnType<typeof planLockState>): string {
  if (!lock || lock.liveness.live) return 'no process holds its lock';
  // Another host's holder is presumed gone by its heartbeat; should it still run, it stops at its next write once the lock is taken over.
  return `no live process (${lock.liveness.reason})`;
}
