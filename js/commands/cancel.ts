// `cancel`: ask the live run of a plan to stop (it polls a request file,
// kills its in-flight queries itself and ends `cancelled`), or mark a run
// that no process holds as cancelled. Never opens the database.
import os from 'node:os';
import { defineCommand, planIdFlag } from './command.js';
import { runtimeError } from '../core/errors.js';
import { acquirePlanLock, describeHolder, describeLiveHolder, liveness, planHolder } from '../engine/lock.js';
import { loadRun, readRunSummary, runPayload, summaryLines } from '../engine/runs.js';
import { cancelPath, checkPlanId, detachEventLog, eventPath, EventLog, readPlan, runPath, writeFileAtomic } from '../engine/store.js';

const WAIT_MS = 30_000;

export const cancelCommand = defineCommand('cancel', 'Stop the run of a plan (from another process)', [planIdFlag], async (cx) => {
  const plan = readPlan(cx.paths, checkPlanId(cx.string('--plan-id')));
  const holder = planHolder(cx.paths, plan.planId);
  if (holder) {
    writeFileAtomic(cancelPath(cx.paths, plan.planId), JSON.stringify({ by: `cancel (pid ${process.pid} on ${os.hostname()})`, requestedAt: new Date().toISOString() }) + '\n');
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline && planHolder(cx.paths, plan.planId)?.nonce === holder.nonce) await new Promise((r) => setTimeout(r, 100));
    const { summary } = readRunSummary(cx, plan);
    if (summary.status !== 'cancelled') {
      throw runtimeError('cancel_pending', `cancel requested, but the run (${describeLiveHolder(holder, liveness(holder))}) has not stopped within ${WAIT_MS / 1000} s; its status is ${summary.status}`);
    }
    return { json: runPayload(cx, plan, summary, { stoppedProcess: holder.pid }), text: [`Cancelled ${plan.planId} (stopped ${describeHolder(holder)})`, ...summaryLines(plan, summary)] };
  }
  // No live process: record the decision ourselves, under the plan lock.
  const { lock } = acquirePlanLock(cx.paths, plan.planId, plan.target, cx.environment()?.origin);
  detachEventLog(eventPath(cx.paths, plan.planId));
  const run = loadRun(cx, plan);
  try {
    const s = run.summary;
    if (s.status === 'completed' || s.status === 'cancelled') {
      return { json: runPayload(cx, plan, s, { noop: true }), text: [`Plan ${plan.planId} is ${s.status}; nothing to cancel`, ...summaryLines(plan, s)] };
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
    return { json: runPayload(cx, plan, summary), text: [`Cancelled ${plan.planId} (no process was running it)`, ...summaryLines(plan, summary)] };
  } finally {
    run.machine.close();
    lock.release();
  }
});
