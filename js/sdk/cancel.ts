// Ask the live run of a plan to stop (it polls a request file, kills its
// in-flight queries itself and ends `cancelled`), or mark a run that no
// process holds as cancelled. Never opens the database.
import os from 'node:os';
import { runtimeError } from '../core/errors.js';
import { acquirePlanLock, describeHolder, describeLiveHolder, liveness, planHolder } from '../engine/lock.js';
import { loadRun, readRunSummary } from '../engine/runs.js';
import { operation } from './errors.js';
import { runPayload, type RunPayload } from './payload.js';
import type { BackfillConfig, Session } from './session.js';
import { cancelPath, checkPlanId, detachEventLog, eventPath, EventLog, readPlan, runPath, writeFileAtomic } from '../engine/store.js';

const WAIT_MS = 30_000;

export interface CancelResult extends RunPayload {
  command: 'cancel';
  /** How it ended: the live run stopped, no process ran it, or there was nothing to cancel. */
  outcome: 'stopped' | 'marked' | 'noop';
  /** `stopped`: the process that was running it, as found. */
  stoppedProcess?: number;
  stoppedDescription?: string;
  noop?: true;
}

export function cancelBackfill(config: BackfillConfig | Session, req: { planId: string }): Promise<CancelResult> {
  return operation(config, async (cx) => {
  const plan = readPlan(cx.paths, checkPlanId(req.planId));
  const holder = planHolder(cx.paths, plan.planId);
  if (holder) {
    writeFileAtomic(cancelPath(cx.paths, plan.planId), JSON.stringify({ by: `cancel (pid ${process.pid} on ${os.hostname()})`, requestedAt: new Date().toISOString() }) + '\n');
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline && planHolder(cx.paths, plan.planId)?.nonce === holder.nonce) await new Promise((r) => setTimeout(r, 100));
    const { summary } = readRunSummary(cx, plan);
    if (summary.status !== 'cancelled') {
      throw runtimeError('cancel_pending', `cancel requested, but the run (${describeLiveHolder(holder, liveness(holder))}) has not stopped within ${WAIT_MS / 1000} s; its status is ${summary.status}`);
    }
    return runPayload('cancel', cx.paths, plan, summary, { outcome: 'stopped' as const, stoppedProcess: holder.pid, stoppedDescription: describeHolder(holder) });
  }
  // No live process: record the decision ourselves, under the plan lock.
  const { lock } = acquirePlanLock(cx.paths, plan.planId, plan.target, cx.environment()?.origin);
  detachEventLog(eventPath(cx.paths, plan.planId));
  const run = loadRun(cx, plan);
  try {
    const s = run.summary;
    if (s.status === 'completed' || s.status === 'cancelled') {
      return runPayload('cancel', cx.paths, plan, s, { outcome: 'noop' as const, noop: true as const });
    }
    const log = new EventLog(eventPath(cx.paths, plan.planId), run.machine.report.logBytes);
    run.machine.beginWriter();
    try {
      // Chunks a crashed run left running have an unknown outcome: resume checks them.
      let running = s.chunkCounts.running;
      for (let i = 0; i < plan.chunkCount && running > 0; i++) {
        if (run.machine.chunk(i).s !== 'running') continue;
        log.append(run.machine.apply({ event: 'chunk_interrupted', chunk: i }));
        running--;
      }
      log.append(run.machine.apply({ event: 'run_finished', status: 'cancelled' }));
    } finally {
      log.close();
    }
    writeFileAtomic(runPath(cx.paths, plan.planId), run.machine.snapshot(log.bytes) + '\n');
    const summary = run.machine.summary();
    return runPayload('cancel', cx.paths, plan, summary, { outcome: 'marked' as const });
  } finally {
    run.machine.close();
    lock.release();
  }
  });
}
