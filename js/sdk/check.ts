// Every plan in the state directory evaluated as `chkit check` does: the core
// (src/check.rs) decides; this gathers each plan's digest from the state files.
import { callCore } from '../core/core.js';
import { planHolder } from '../engine/lock.js';
import { readRunSummary } from '../engine/runs.js';
import { listPlanIds, readPlan } from '../engine/store.js';
import { operation } from './errors.js';
import type { BackfillConfig, Session } from './session.js';
import { readVerification } from './verify.js';

export interface CheckFinding {
  code: string;
  message: string;
  severity: 'info' | 'warn' | 'error';
  metadata?: { planIds: string[] };
}

export interface CheckResult {
  plugin: 'backfill';
  evaluated: boolean;
  ok: boolean;
  findings: CheckFinding[];
  metadata?: Record<string, unknown>;
}

/** The check's findings; never opens the database. */
export function checkBackfills(config: BackfillConfig | Session): Promise<CheckResult> {
  return operation(config, evaluateCheck);
}

/** The same, synchronously (chkit's onCheck hook). */
export function evaluateCheck(cx: Session): CheckResult {
  const policy = cx.options.policy;
  const relaxedPolicies = Object.entries(policy)
    .filter(([, on]) => on === false)
    .map(([name]) => `policy.${name}`);
  const plans = listPlanIds(cx.paths).map((planId) => {
    const plan = readPlan(cx.paths, planId);
    const { summary } = readRunSummary(cx, plan);
    const run =
      summary.status === null
        ? null
        : {
            status: summary.status,
            failedChunks: summary.chunkCounts.failed,
            orphaned: summary.status === 'running' && !planHolder(cx.paths, planId),
          };
    const verification = readVerification(cx.paths, planId);
    return { planId, target: plan.target, run, verificationFailed: verification ? !verification.ok : false };
  });
  return callCore<CheckResult>('evaluateCheck', {
    failOnPending: policy.failCheckOnRequiredPendingBackfill,
    relaxedPolicies,
    plans,
  });
}

