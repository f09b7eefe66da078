// `chkit check` for backfills: every plan in the state directory is evaluated
// by the core (src/check.rs); this module gathers the digests and prints.
import { callCore } from '../core/core.js';
import { Cx, defineCommand, type CommandContext } from './command.js';
import type { ResolvedConfig } from '../cli/config.js';
import { planHolder } from '../engine/lock.js';
import { readRunSummary } from '../engine/runs.js';
import { listPlanIds, readPlan } from '../engine/store.js';
import { wrap } from '../cli/output.js';
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

/** What chkit passes to onCheck. */
export interface CheckHookContext {
  command?: string;
  config: ResolvedConfig;
  configPath: string;
  jsonMode: boolean;
  options: Record<string, unknown>;
  tableScope?: unknown;
  flags?: Record<string, unknown>;
}

function cxFor(h: CheckHookContext): Cx {
  const ctx: CommandContext = {
    args: [],
    flags: (h.flags ?? {}) as CommandContext['flags'],
    jsonMode: h.jsonMode,
    options: h.options ?? {},
    config: h.config,
    configPath: h.configPath,
    print() {},
  };
  return new Cx(ctx, 'check');
}

export function evaluateCheck(cx: Cx): CheckResult {
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
    const verification = readVerification(cx, planId);
    return { planId, target: plan.target, run, verificationFailed: verification ? !verification.ok : false };
  });
  return callCore<CheckResult>('evaluateCheck', {
    failOnPending: policy.failCheckOnRequiredPendingBackfill,
    relaxedPolicies,
    plans,
  });
}

/** One line per finding, naming the plans. */
export function reportLines(result: CheckResult): string[] {
  return result.findings.flatMap((f) => wrap(f.message, 80, `  ${f.severity.padEnd(5)} ${f.code}: `, '        '));
}

/** The `plugins.backfill` block of `chkit check --json`. */
export function checkBlock(result: CheckResult): Record<string, unknown> {
  return { evaluated: result.evaluated, ok: result.ok, findingCodes: result.findings.map((f) => f.code), ...(result.metadata ?? {}) };
}

/** Whether chkit fails the check for this result. */
export function failsCheck(result: CheckResult): boolean {
  return result.evaluated && !result.ok && result.findings.some((f) => f.severity === 'error');
}

// No onConfigLoaded: an error thrown there reaches the user without the command or its code
// (the real chkit calls it before `chkit backfill <cmd>`); each command validates the options
// itself, and onCheck reports invalid ones as a finding.
export const checkHooks = {
  onCheck(ctx: CheckHookContext): CheckResult {
    try {
      return evaluateCheck(cxFor(ctx));
    } catch (err) {
      // A check that cannot read its state must fail loudly, not pass.
      return {
        plugin: 'backfill',
        evaluated: true,
        ok: false,
        findings: [{ code: 'backfill_check_error', severity: 'error', message: (err as Error).message }],
      };
    }
  },
  onCheckReport({ result, print }: { result: CheckResult; print: (v: unknown) => void }): void {
    for (const line of reportLines(result)) print(line);
  },
};

/** `chkit-backfill check`: what `chkit check` shows for this plugin. */
export const checkCommand = defineCommand('check', 'Evaluate the backfill state as `chkit check` does (exit 1 when it fails)', [], async (cx) => {
  const result = evaluateCheck(cx);
  const failed = failsCheck(result);
  return {
    exitCode: failed ? 1 : 0,
    json: {
      ok: !failed,
      command: 'check',
      failedChecks: failed ? ['plugin:backfill'] : [],
      plugins: { backfill: checkBlock(result) },
      findings: result.findings,
    },
    text: [`- backfill: ${failed ? 'failed' : 'ok'}${result.findings.length ? ` (${result.findings.map((f) => f.code).join(', ')})` : ''}`, ...reportLines(result)],
  };
});
