// `chkit check` for backfills: the hooks chkit calls and the `check` command,
// over the SDK's evaluation (sdk/check.ts).
import { defineCommand } from './command.js';
import type { ResolvedConfig } from '../sdk/config.js';
import { evaluateCheck, type CheckResult } from '../sdk/check.js';
import { Session } from '../sdk/session.js';
import { wrap } from './output.js';

export type { CheckFinding, CheckResult } from '../sdk/check.js';

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

function sessionFor(h: CheckHookContext): Session {
  return new Session({ configPath: h.configPath, config: h.config, options: h.options ?? {} });
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
      return evaluateCheck(sessionFor(ctx));
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
  const result = evaluateCheck(cx.session);
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
