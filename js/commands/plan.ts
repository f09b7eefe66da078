// `plan`: learn the tables and views involved, decide the strategy and time
// column, cut the window into chunks and write the immutable plan file.
import { buildPlanFile, checkPlanInput, parseTable, planDifferences, chunkStatements, planPreview, type PlanPreview } from '../core/core.js';
import { planFromBytes, readPlanFile, type Plan } from '../engine/plan_file.js';
import { defineCommand, type Cx, type FlagDef } from './command.js';
import { usageError } from '../core/errors.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { insertableColumns, requireTable } from '../server/schema_info.js';
import { loadSchema } from '../server/schema.js';
import { distributedInput, gatherPlanInputs, serverSettings } from '../server/plan_inputs.js';
import { canPrompt, choose, confirm } from '../cli/prompt.js';
import { eventPath, keepAside, planPath, readTextIfExists, runPath, writeFileAtomic } from '../engine/store.js';
import { readRunSummary } from '../engine/runs.js';
import { cliName, wrap } from '../cli/output.js';
import { describeHolder, embeddedEngineHolder, planHolder } from '../engine/lock.js';

export interface PlanInput {
  target?: string;
  from?: string;
  to?: string;
  chunkHours?: string;
  timeColumn?: string;
  source?: string;
  forceLargeWindow?: boolean;
  force?: boolean;
  /** With `force`: replace the plan even though its run applied chunks (they will be applied again). */
  discardApplied?: boolean;
  /** Compute the plan but write nothing. */
  dryRun?: boolean;
  /** `--setting name=value`, repeatable: on every chunk INSERT. */
  settings?: string[];
}

export interface PlanOutcome {
  plan: Plan;
  file: string;
  existed: boolean;
  /** Files of the replaced plan and its run, kept under new names. */
  kept: string[];
  /** An existing plan of an earlier version got the SQL digests it lacked (its chunks unchanged). */
  upgraded: boolean;
  /** Strategy, views, time-column decisions and warnings, for the report. */
  preview: PlanPreview;
}

/** Columns the copy and table strategies name (server only: the schema may lag the table). */
async function copyColumns(ch: ClickHouse, target: string, source: string | undefined, db: string) {
  const t = parseTable(target, db, '--target');
  const s = source === undefined ? undefined : parseTable(source, db, '--source');
  const targetColumns = insertableColumns(await requireTable(ch, t.database, t.table, '--target'));
  const sourceColumns = s ? (await requireTable(ch, s.database, s.table, '--source')).map((c) => c.name) : undefined;
  return { targetColumns, sourceColumns };
}

/** On a terminal, confirm a detected time column or pick one of several. */
async function promptTimeColumns(cx: Cx, preview: PlanPreview): Promise<Record<string, string>> {
  const chosen: Record<string, string> = {};
  for (const c of preview.timeColumns) {
    const single = c.origin === 'detected' ? c.column : c.column === null && c.candidates.length === 1 ? c.candidates[0].name : null;
    if (single) {
      if (!(await confirm(`Use ${single} as the time column of ${c.table}?`))) {
        throw usageError('missing_time_column', `no time column chosen for ${c.table}: pass --time-column <column>`);
      }
      chosen[c.table] = single;
    } else if (c.column === null && c.candidates.length > 1) {
      const i = await choose(
        `Which column of ${c.table} holds the time the window is cut on?`,
        c.candidates.map((k) => `${k.name} (${k.type}${k.inOrderBy ? ', in ORDER BY' : ''})`),
      );
      if (i === undefined) throw usageError('missing_time_column', `no time column chosen for ${c.table}: pass --time-column <column>`);
      chosen[c.table] = c.candidates[i].name;
    }
  }
  return chosen;
}

/** min/max over every table the window is cut on. */
async function dataRange(ch: ClickHouse, queries: string[]) {
  let min: string | null = null;
  let max: string | null = null;
  for (const q of queries) {
    const [r] = await ch.query<{ min: string; max: string; rows: string | number }>(q);
    if (!r || Number(r.rows) === 0) continue;
    if (min === null || r.min < min) min = r.min;
    if (max === null || r.max > max) max = r.max;
  }
  return { min, max };
}

/** Plan from flag values and write the plan file (shared by `plan` and an implicit plan in `run`). */
export async function makePlan(cx: Cx, input: PlanInput): Promise<PlanOutcome> {
  const { target, source } = input;
  if (!target) throw usageError('missing_target', 'missing --target <db.table>');
  const env = cx.environment();
  const db = cx.ctx.config.clickhouse?.database || 'default';
  let request: Record<string, unknown> = {
    options: cx.ctx.options ?? {},
    target,
    from: input.from,
    to: input.to,
    chunkHours: input.chunkHours,
    timeColumn: input.timeColumn,
    source,
    defaultDatabase: db,
    environment: env,
    forceLargeWindow: input.forceLargeWindow ?? false,
    now: cx.now(),
    settings: input.settings ?? [],
  };
  // Bad flags are exit 2 before any file is imported or the server is touched.
  checkPlanInput(request);
  const schema = await loadSchema(cx.ctx.config, cx.ctx.configPath);
  const t = parseTable(target, db, '--target');
  const s = source === undefined ? undefined : parseTable(source, db, '--source');
  // The embedded engine admits one process: a live run holds it, and must not be disturbed.
  const busy = env?.origin.startsWith('chdb:') ? embeddedEngineHolder(cx.paths, env.origin, '') : undefined;
  if (busy) throw usageError('engine_busy', `the embedded engine ${env!.origin} is in use by the run of plan ${busy.planId} (${describeHolder(busy)}); plan again when it ends`);
  const ch = env ? await cx.connect() : undefined;
  try {
    request = { ...request, ...(await gatherPlanInputs(schema, ch, t, s)) };
    if (ch) request = { ...request, ...(await copyColumns(ch, target, source, db)) };
    if (ch) {
      const distributed = await distributedInput(ch, t);
      // The user's settings are checked against what this server knows.
      const wanted = (input.settings?.length ?? 0) > 0 || Object.keys(cx.options.insertSettings ?? {}).length > 0;
      request = { ...request, ...(distributed ? { distributed } : {}), ...(wanted ? { serverSettings: await serverSettings(ch) } : {}) };
    }
    let preview = planPreview(request);
    if (!input.timeColumn && canPrompt(cx.jsonMode)) {
      request = { ...request, chosenTimeColumns: await promptTimeColumns(cx, preview) };
      preview = planPreview(request);
    }
    if (preview.dataRangeQueries.length > 0 && ch) {
      request = { ...request, dataRange: await dataRange(ch, preview.dataRangeQueries) };
    }
    const bytes = buildPlanFile(request);
    const plan = planFromBytes(bytes, '(new plan)');
    const file = planPath(cx.paths, plan.planId);
    if (input.dryRun) return { plan, file, existed: readTextIfExists(file) !== undefined, kept: [], upgraded: false, preview };
    const rebuild = (createdAt: string) => buildPlanFile({ ...request, now: createdAt });
    const written = writePlan(cx, plan, file, bytes, { force: input.force ?? false, discardApplied: input.discardApplied ?? false, rebuild });
    // The plan as stored: an existing identical plan keeps its file (and createdAt), which a run hashes.
    return { plan: readPlanFile(file), file, ...written, preview };
  } finally {
    await ch?.close();
  }
}

interface WriteOptions {
  force: boolean;
  discardApplied: boolean;
  /** The same plan with another createdAt (to upgrade an existing plan in place). */
  rebuild: (createdAt: string) => Uint8Array;
}

/** `bytes`: the plan file as the core laid it out (`jq .` shows it indented). */
function writePlan(cx: Cx, plan: Plan, file: string, bytes: Uint8Array, o: WriteOptions): { existed: boolean; kept: string[]; upgraded: boolean } {
  const planId = plan.planId;
  const existing = readTextIfExists(file);
  if (existing === undefined) {
    writeFileAtomic(file, bytes);
    return { existed: false, kept: [], upgraded: false };
  }
  if (!o.force) {
    const fresh = new TextDecoder().decode(bytes);
    const diff = planDifferences(existing, fresh);
    if (diff.length === 0) return { existed: true, kept: [], upgraded: false };
    // A plan of an earlier version lacks only the SQL digests: table and copy plans are checked
    // without them; an mv_replay plan whose chunk lines are byte for byte the fresh ones gets them.
    if (diff.length === 1 && diff[0] === 'sqlDigests' && !('sqlDigests' in readPlanFile(file))) {
      if (plan.strategy !== 'mv_replay') return { existed: true, kept: [], upgraded: false };
      if (existing.slice(existing.indexOf('\n')) === fresh.slice(fresh.indexOf('\n'))) {
        writeFileAtomic(file, o.rebuild(readPlanFile(file).createdAt));
        return { existed: true, kept: [], upgraded: true };
      }
    }
    throw usageError(
      'plan_conflict',
      `plan ${planId} already exists with different ${diff.join(', ')}; pass --force to replace it ` +
        '(the old plan, its run and events are kept under new names; a run that applied chunks also needs --discard-applied)',
    );
  }
  // Replacing the state of a live run would leave it writing into nothing.
  const holder = planHolder(cx.paths, planId);
  if (holder) throw usageError('run_active', `plan ${planId} is being run by ${describeHolder(holder)}; cancel it before --force`);
  const applied = appliedWork(cx, file, planId);
  if (applied && !o.discardApplied) throw usageError('applied_chunks', appliedRefusal(cx, plan, applied));
  const stamp = cx.now().replace(/[-:.]/g, '');
  // The log last but one and the plan last: a crash in between leaves a run that still loads.
  const kept = [runPath(cx.paths, planId), eventPath(cx.paths, planId), file].map((f) => keepAside(f, stamp)).filter((f): f is string => !!f);
  writeFileAtomic(file, bytes);
  return { existed: false, kept, upgraded: false };
}

type Applied = { done: number; total: number; rows: number; partial: number } | { unreadable: string };

/** What the stored run of the existing plan applied; undefined when it applied nothing. */
function appliedWork(cx: Cx, file: string, planId: string): Applied | undefined {
  if (readTextIfExists(runPath(cx.paths, planId)) === undefined && readTextIfExists(eventPath(cx.paths, planId)) === undefined) return undefined;
  try {
    const { summary: s } = readRunSummary(cx, readPlanFile(file));
    // Running (interrupted) and operator-stopped chunks may have written part of their rows.
    const partial = s.chunkCounts.running + s.needsOperator;
    return s.chunkCounts.done > 0 || partial > 0 ? { done: s.chunkCounts.done, total: s.chunkCounts.total, rows: s.rowsWritten, partial } : undefined;
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}

function appliedRefusal(cx: Cx, plan: Plan, a: Applied): string {
  const what =
    'unreadable' in a
      ? `its run's state cannot be read (${a.unreadable}), so what it applied is unknown`
      : `its run applied ${a.done} of ${a.total} chunks (${a.rows} rows)` + (a.partial > 0 ? ` and ${a.partial} more may have written part of their rows` : '');
  const again =
    plan.strategy === 'table'
      ? 'a table plan re-inserts each window into itself, so the rows of those chunks are doubled again'
      : plan.strategy === 'copy'
        ? `a copy plan inserts each window of ${plan.source} again, so the rows of those chunks are in ${plan.target} twice (duplicates)`
        : 'an mv_replay plan replays the views over those windows again: the target drops the repeats only if it deduplicates inserts and its ' +
          'deduplication window still holds those chunks\' tokens (the same plan id gives the same tokens); otherwise their rows are added again';
  return (
    `plan ${plan.planId}: ${what}. Replacing the plan starts a new run that executes them again: ${again}. ` +
    `To keep that work, keep the plan (\`${cliName(cx)} resume --plan-id ${plan.planId}\` continues its run). ` +
    'To replace it anyway, add --discard-applied: the old plan, run and events are kept under new names, not deleted'
  );
}

export const planFlags: FlagDef[] = [
  { name: '--target', type: 'string', description: 'Table to backfill (database.table)', placeholder: '<db.table>' },
  { name: '--from', type: 'string', description: 'Window start, inclusive (date or ISO timestamp)', placeholder: '<time>' },
  { name: '--to', type: 'string', description: 'Window end, exclusive (date or ISO timestamp)', placeholder: '<time>' },
  { name: '--chunk-hours', type: 'string', description: 'Chunk length in hours (may be fractional)', placeholder: '<hours>' },
  { name: '--time-column', type: 'string', description: 'Column the window filters on', placeholder: '<column>' },
  { name: '--source', type: 'string', description: 'Copy the window from this table instead (strategy copy)', placeholder: '<db.table>' },
  { name: '--force-large-window', type: 'boolean', description: 'Allow a window over limits.maxWindowHours' },
  { name: '--setting', type: 'string[]', description: 'A setting for every chunk INSERT (repeatable; over options.insertSettings)', placeholder: '<name=value>' },
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
    settings: cx.strings('--setting'),
  };
}

export const planCommand = defineCommand(
  'plan',
  'Cut a time window of a table into chunks and write an immutable backfill plan',
  [
    ...planFlags,
    { name: '--force', type: 'boolean', description: 'Replace an existing plan with these parameters (its run and events are kept under new names); refused when its run applied chunks' },
    { name: '--discard-applied', type: 'boolean', description: 'With --force: replace the plan although its run applied chunks, which the new run applies again' },
    { name: '--dry-run', type: 'boolean', description: 'Show the chunks and the SQL of the first and last chunk; write nothing' },
  ],
  async (cx) => {
    const dryRun = cx.bool('--dry-run');
    if (cx.bool('--discard-applied') && !cx.bool('--force')) {
      throw usageError('invalid_flag', '--discard-applied only goes with --force (it lets --force replace a plan whose run applied chunks)');
    }
    const { plan, file, existed, kept, upgraded, preview } = await makePlan(cx, {
      ...planInputFromFlags(cx),
      force: cx.bool('--force'),
      discardApplied: cx.bool('--discard-applied'),
      dryRun,
    });
    const hours = (Date.parse(plan.to) - Date.parse(plan.from)) / 3_600_000;
    const detected = preview.timeColumns.filter((c) => c.origin === 'detected');
    const viewLines = (plan.views ?? []).flatMap((v) =>
      wrap(`${v.name} ← ${v.source} on ${v.timeColumn} (${v.columns.join(', ')}; query from ${v.queryFrom})`, 80, '  view      ', '              '),
    );
    return {
      json: {
        ok: true,
        command: 'plan',
        planId: plan.planId,
        target: plan.target,
        from: plan.from,
        to: plan.to,
        chunkCount: plan.chunkCount,
        chunkHours: plan.chunkHours,
        timeColumn: plan.timeColumn,
        strategy: plan.strategy,
        timeColumns: preview.timeColumns.map((c) => ({ table: c.table, column: c.column, origin: c.origin })),
        ...(plan.views ? { views: plan.views } : {}),
        ...(plan.distributed ? { distributed: plan.distributed } : {}),
        ...(plan.insertSettings ? { insertSettings: plan.insertSettings } : {}),
        statementsPerChunk: plan.chunk(0).statements?.length ?? 1,
        warnings: preview.warnings,
        planPath: file,
        existed,
        ...(kept.length ? { keptFiles: kept } : {}),
        ...(upgraded ? { upgraded } : {}),
        ...(dryRun ? dryRunPayload(plan) : {}),
      },
      text: [
        `${dryRun ? 'Dry run (nothing written):' : existed ? 'Plan already exists' : 'Planned'} ${plan.planId}`,
        `  target    ${plan.target} (strategy ${plan.strategy}${plan.source ? ` from ${plan.source}` : ''})`,
        `  window    ${plan.from} → ${plan.to} (${hours} h)`,
        `  chunks    ${plan.chunkCount} × ${plan.chunkHours} h on ${plan.timeColumn}`,
        ...viewLines,
        ...(plan.distributed
          ? [`  shards    Distributed over cluster ${plan.distributed.cluster} (${plan.distributed.shards} shard(s)) into ${plan.distributed.remoteDatabase}.${plan.distributed.remoteTable}${plan.distributed.shardingKey ? `, sharded by ${plan.distributed.shardingKey}` : ''}`]
          : []),
        ...(plan.insertSettings ? [`  settings  ${Object.entries(plan.insertSettings).map(([k, v]) => `${k}=${v}`).join(', ')} on every chunk INSERT`] : []),
        ...detected.map((c) => `  detected  time column ${c.column} of ${c.table} (the only date/time column in its ORDER BY)`),
        `  plan      ${file}${dryRun ? ' (not written)' : ''}`,
        ...kept.map((f) => `  kept      ${f}`),
        ...(upgraded
          ? [`  upgraded  added the SQL digests a run checks its chunks against (chunks unchanged; a run already started continues with \`resume --plan-id ${plan.planId} --force-compatibility\`)`]
          : []),
        ...preview.warnings.map((w) => `warning: ${w}`),
        ...(dryRun
          ? dryRunLines(plan, `${cliName(cx)} plan${flagsAgain(cx)}`)
          : [`Next: ${cliName(cx)} run --plan-id ${plan.planId}`]),
      ],
    };
  },
);

/** The SQL a chunk executes, statement by statement. */
const chunkSql = (plan: Plan, i: number) => chunkStatements(plan.chunk(i), plan.target).map((st) => st.sql);

function dryRunPayload(plan: Plan): Record<string, unknown> {
  return {
    dryRun: true,
    chunks: Array.from({ length: plan.chunkCount }, (_, i) => {
      const c = plan.chunk(i);
      return { id: c.id, from: c.from, to: c.to };
    }),
    firstChunkSql: chunkSql(plan, 0),
    lastChunkSql: chunkSql(plan, plan.chunkCount - 1),
  };
}

function dryRunLines(plan: Plan, again: string): string[] {
  const n = plan.chunkCount;
  const shown = n <= 12 ? [...Array(n).keys()] : [0, 1, 2, 3, 4, n - 5, n - 4, n - 3, n - 2, n - 1];
  const lines = ['', `Chunks (${n}):`];
  for (const i of shown) {
    const c = plan.chunk(i);
    if (n > 12 && i === n - 5) lines.push(`  … ${n - 10} more …`);
    lines.push(`  ${String(i + 1).padStart(String(n).length)}  ${c.from} → ${c.to}  ${c.id}`);
  }
  const sqlBlock = (title: string, i: number) => ['', `${title} (${plan.chunk(i).from} → ${plan.chunk(i).to}):`, ...chunkSql(plan, i).flatMap((q) => [q + ';'])];
  lines.push(...sqlBlock('SQL of the first chunk', 0));
  if (n > 1) lines.push(...sqlBlock('SQL of the last chunk', n - 1));
  lines.push('', `Write the plan: ${again}`);
  return lines;
}

/** The flags as given, minus --dry-run: the command that writes this plan. */
function flagsAgain(cx: Cx): string {
  return Object.entries(cx.ctx.flags)
    .filter(([k, v]) => k !== '--dry-run' && v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? ` ${k}` : ` ${k} ${/^[\w:.+-]+$/.test(String(v)) ? v : JSON.stringify(String(v))}`))
    .join('');
}
