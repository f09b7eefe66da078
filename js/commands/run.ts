// `run` (and `resume`, which shares it): flags → run request (sdk/run.ts), live
// progress on a terminal, result → lines.
import type { RunMode, RunResult } from '../sdk/run.js';
import { defineCommand, planIdFlag, type CommandResult, type Cx, type FlagDef } from './command.js';
import { cliName, wrap } from './output.js';
import { summaryLines } from './present.js';
import { createProgress } from './progress.js';
import { planFlags, planInputFromFlags } from './plan.js';

export const executionFlags: FlagDef[] = [
  planIdFlag,
  { name: '--replay-done', type: 'boolean', description: 'Execute chunks that are already done again' },
  { name: '--replay-failed', type: 'boolean', description: 'Execute failed chunks again, including those that need an operator' },
  { name: '--force-overlap', type: 'boolean', description: 'Run even though another live run writes to the same target' },
  { name: '--force-compatibility', type: 'boolean', description: 'Continue although the plan or data options changed since the checkpoint' },
  { name: '--force-environment', type: 'boolean', description: 'Run a plan made for another ClickHouse environment' },
  { name: '--dry-run', type: 'boolean', description: 'Print the SQL of every chunk that would execute; execute and write nothing' },
];
const PLAN_FLAG_NAMES = planFlags.map((f) => f.name);

export async function executeRun(cx: Cx, mode: RunMode): Promise<CommandResult> {
  const given = PLAN_FLAG_NAMES.filter((n) => cx.ctx.flags[n] !== undefined && cx.ctx.flags[n] !== false);
  const progress = createProgress({ jsonMode: cx.jsonMode });
  let r: RunResult;
  try {
    const { runBackfill } = await import('../sdk/run.js');
    r = await runBackfill(
      cx.session,
      {
        mode,
        planId: cx.string('--plan-id'),
        ...(mode === 'run' && given.length > 0 ? { plan: planInputFromFlags(cx), planFlags: given } : {}),
        replayDone: cx.bool('--replay-done'),
        replayFailed: cx.bool('--replay-failed'),
        forceOverlap: cx.bool('--force-overlap'),
        forceCompatibility: cx.bool('--force-compatibility'),
        forceEnvironment: cx.bool('--force-environment'),
        dryRun: cx.bool('--dry-run'),
      },
      { processSignals: true, onProgress: cx.jsonMode ? undefined : (p) => progress.update(p) },
    );
  } finally {
    progress.done();
  }
  return { exitCode: r.ok ? 0 : 1, json: r, text: runLines(r, cliName(cx)) };
}

function runLines(r: RunResult, cli: string): string[] {
  if (r.dryRun) {
    const chunks = r.chunks ?? [];
    const text = [`Dry run of ${r.command} ${r.planId} (nothing executed, nothing written): ${chunks.length} of ${r.chunkCounts.total} chunk(s)`];
    for (const c of chunks) text.push('', `-- chunk ${c.index}/${r.chunkCounts.total} ${c.from} → ${c.to} (${c.status})`, ...c.sql.map((q) => q + ';'));
    return text;
  }
  if (r.noop) return [`Plan ${r.planId} already completed; nothing to do (--replay-done to execute it again)`, ...summaryLines(r)];
  const head =
    r.status === 'completed'
      ? `Completed ${r.planId}`
      : r.status === 'failed'
        ? `Failed ${r.planId}`
        : r.status === 'paused'
          ? `Paused ${r.planId}: \`${cli} resume --plan-id ${r.planId}\` continues`
          : `Cancelled ${r.planId}`;
  return [...(r.implicitPlan ? [`Planned ${r.planId} (implicit plan)`] : []), head, ...summaryLines(r), ...(r.notes ?? []).flatMap((n) => wrap(n, 80, '  note: '))];
}

export const runCommand = defineCommand(
  'run',
  'Execute the pending chunks of a plan (retries, parallel chunks, checkpoints)',
  [...executionFlags, ...planFlags],
  (cx) => executeRun(cx, 'run'),
);
