// `plan`: cut the window into chunks and write the immutable plan file.
import { buildPlan, parseTable, planDifferences, type PlanState } from '../core.js';
import { defineCommand, type Cx, type FlagDef } from '../command.js';
import { BackfillError, usageError } from '../errors.js';
import { insertableColumns, requireTable } from '../schema_info.js';
import { eventPath, planPath, readTextIfExists, removeIfExists, runPath, writeFileAtomic } from '../store.js';
import { cliName } from '../output.js';

async function serverColumns(cx: Cx, target: string, source: string | undefined) {
  if (!cx.ctx.config.clickhouse?.url) return {};
  const db = cx.ctx.config.clickhouse.database || 'default';
  // Parse before connecting: a bad name is exit 2 and must not touch the server.
  const t = parseTable(target, db, '--target');
  const s = source === undefined ? undefined : parseTable(source, db, '--source');
  const ch = await cx.connect();
  try {
    const targetColumns = insertableColumns(await requireTable(ch, t.database, t.table, '--target'));
    const sourceColumns = s ? (await requireTable(ch, s.database, s.table, '--source')).map((c) => c.name) : undefined;
    return { targetColumns, sourceColumns };
  } finally {
    await ch.close();
  }
}

export interface PlanInput {
  target?: string;
  from?: string;
  to?: string;
  chunkHours?: string;
  timeColumn?: string;
  source?: string;
  forceLargeWindow?: boolean;
  force?: boolean;
}

export interface PlanOutcome {
  plan: PlanState;
  file: string;
  existed: boolean;
}

/** Plan from flag values and write the plan file (shared by `plan` and an implicit plan in `run`). */
export async function makePlan(cx: Cx, input: PlanInput): Promise<PlanOutcome> {
  const { target, source } = input;
  if (!target) throw usageError('missing_target', 'missing --target <db.table>');
  const env = cx.environment();
  const request = {
    options: cx.ctx.options ?? {},
    target,
    from: input.from,
    to: input.to,
    chunkHours: input.chunkHours,
    timeColumn: input.timeColumn,
    source,
    defaultDatabase: cx.ctx.config.clickhouse?.database || 'default',
    environment: env,
    forceLargeWindow: input.forceLargeWindow ?? false,
    now: cx.now(),
  };
  // Validate everything that needs no server first: bad input never connects.
  // The core checks columns last, so `columns_unknown` here means only "ask the server".
  try {
    buildPlan(request);
  } catch (err) {
    if (!(err instanceof BackfillError && err.code === 'columns_unknown' && env)) throw err;
  }
  const plan = buildPlan({ ...request, ...(await serverColumns(cx, target, source)) });

  const file = planPath(cx.paths, plan.planId);
  const existing = readTextIfExists(file);
  let existed = false;
  if (existing !== undefined && input.force) {
    for (const f of [runPath(cx.paths, plan.planId), eventPath(cx.paths, plan.planId), file]) removeIfExists(f);
  } else if (existing !== undefined) {
    const diff = planDifferences(existing, plan);
    if (diff.length > 0) {
      throw usageError(
        'plan_conflict',
        `plan ${plan.planId} already exists with different ${diff.join(', ')}; pass --force to replace it (its run and events are deleted)`,
      );
    }
    existed = true;
  }
  if (!existed) writeFileAtomic(file, JSON.stringify(plan, null, 2) + '\n');
  return { plan, file, existed };
}

export const planFlags: FlagDef[] = [
  { name: '--target', type: 'string', description: 'Table to backfill (database.table)', placeholder: '<db.table>' },
  { name: '--from', type: 'string', description: 'Window start, inclusive (date or ISO timestamp)', placeholder: '<time>' },
  { name: '--to', type: 'string', description: 'Window end, exclusive (date or ISO timestamp)', placeholder: '<time>' },
  { name: '--chunk-hours', type: 'string', description: 'Chunk length in hours (may be fractional)', placeholder: '<hours>' },
  { name: '--time-column', type: 'string', description: 'Column the window filters on', placeholder: '<column>' },
  { name: '--source', type: 'string', description: 'Copy the window from this table instead (strategy copy)', placeholder: '<db.table>' },
  { name: '--force-large-window', type: 'boolean', description: 'Allow a window over limits.maxWindowHours' },
];

export function planInputFromFlags(cx: Cx): PlanInput {
  return {
    target: cx.string('--target'),
    from: cx.string('--from'),
    to: cx.string('--to'),
    chunkHours: cx.string('--chunk-hours'),
    timeColumn: cx.string('--time-column'),
    source: cx.string('--source'),
    forceLargeWindow: cx.bool('--force-large-window'),
  };
}

export const planCommand = defineCommand(
  'plan',
  'Cut a time window of a table into chunks and write an immutable backfill plan',
  [
    ...planFlags,
    { name: '--force', type: 'boolean', description: 'Replace an existing plan with these parameters, deleting its run and events' },
  ],
  async (cx) => {
    const { plan, file, existed } = await makePlan(cx, { ...planInputFromFlags(cx), force: cx.bool('--force') });
    const hours = (Date.parse(plan.to) - Date.parse(plan.from)) / 3_600_000;
    return {
      json: {
        ok: true,
        command: 'plan',
        planId: plan.planId,
        target: plan.target,
        from: plan.from,
        to: plan.to,
        chunkCount: plan.chunks.length,
        chunkHours: plan.chunkHours,
        timeColumn: plan.timeColumn,
        strategy: plan.strategy,
        planPath: file,
        existed,
      },
      text: [
        `${existed ? 'Plan already exists' : 'Planned'} ${plan.planId}`,
        `  target    ${plan.target} (strategy ${plan.strategy}${plan.source ? ` from ${plan.source}` : ''})`,
        `  window    ${plan.from} → ${plan.to} (${hours} h)`,
        `  chunks    ${plan.chunks.length} × ${plan.chunkHours} h on ${plan.timeColumn}`,
        `  plan      ${file}`,
        `Next: ${cliName(cx)} run --plan-id ${plan.planId}`,
      ],
    };
  },
);
