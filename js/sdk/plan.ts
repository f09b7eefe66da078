// Learn the tables and views involved, decide the strategy and time column,
// cut the window into chunks and write the immutable plan file.
import fs from 'node:fs';
import { buildPlanFile, checkPlanInput, parseTable, planDifferences, chunkStatements, planPreview, volumeQueries, volumeReport, type PlanPreview, type VolumeReport } from '../core/core.js';
import { planFromBytes, readPlanFile, type Plan } from '../engine/plan_file.js';
import { usageError } from '../core/errors.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { insertableColumns, replicated, requireTable, targetTable } from '../server/schema_info.js';
import { loadSchema } from '../server/schema.js';
import { distributedInput, gatherPlanInputs, serverSettings } from '../server/plan_inputs.js';
import { eventPath, keepAside, planPath, readTextIfExists, runPath, writeFileAtomic } from '../engine/store.js';
import { readRunSummary } from '../engine/runs.js';
import { describeHolder, embeddedEngineHolder, planHolder } from '../engine/lock.js';
import { operation } from './errors.js';
import type { BackfillConfig, Session } from './session.js';

export interface PlanInput {
  target?: string;
  from?: string;
  to?: string;
  /** Chunk length in hours (a flag's text or a number). */
  chunkHours?: string | number;
  /** Chunks of about this many rows, cut from the data (instead of chunkHours). */
  chunkRows?: string | number;
  /** Chunks of about this many uncompressed bytes (`512MB`, `2GiB`, or a number). */
  chunkBytes?: string | number;
  timeColumn?: string;
  source?: string;
  forceLargeWindow?: boolean;
  force?: boolean;
  /** With `force`: replace the plan even though its run applied chunks (they will be applied again). */
  discardApplied?: boolean;
  /** Compute the plan but write nothing. */
  dryRun?: boolean;
  /** `name=value` settings for every chunk INSERT, over `options.insertSettings` (`--setting`, repeatable). */
  settings?: string[];
  /**
   * Asked when the time column was not given: confirm a detected one or pick one of several
   * (the commands prompt on a terminal). → the column chosen per table; none → the plan says
   * which are missing.
   */
  chooseTimeColumns?: (preview: PlanPreview) => Promise<Record<string, string>>;
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
  /** A plan sized by rows or bytes: spread, histogram, warnings. */
  volume: VolumeReport | null;
}

/**
 * Rows per grid cell of each table the chunks read (one GROUP BY on the time column each),
 * and for bytes the tables' uncompressed size; plus what the mv_replay block warning needs.
 */
async function readDistribution(ch: ClickHouse, request: Record<string, unknown>, target: { database: string; table: string }) {
  const q = volumeQueries(request);
  if (!q) return {};
  const distribution = [];
  for (const t of q.queries) {
    const rows = await ch.query<{ cell: string | number; rows: string | number }>(t.counts);
    const cells = rows.map((r) => [Number(r.cell), Number(r.rows)]);
    let size: { bytes: number; rows: number } | undefined;
    if (t.size) {
      const [r] = await ch.query<{ bytes: string | number | null; rows: string | number | null }>(t.size);
      size = { bytes: Number(r?.bytes ?? 0), rows: Number(r?.rows ?? 0) };
    }
    distribution.push({ table: t.table, cells, ...(size ? { size } : {}) });
  }
  const [block] = await ch.query<{ value: string }>(`SELECT value FROM system.settings WHERE name = 'max_insert_block_size'`);
  const info = await targetTable(ch, target.database, target.table);
  return {
    distribution,
    ...(block ? { maxInsertBlockSize: Number(block.value) } : {}),
    ...(info ? { targetReplicated: replicated(info) } : {}),
  };
}

/** Columns the copy and table strategies name (server only: the schema may lag the table). */
async function copyColumns(ch: ClickHouse, target: string, source: string | undefined, db: string) {
  const t = parseTable(target, db, '--target');
  const s = source === undefined ? undefined : parseTable(source, db, '--source');
  const targetColumns = insertableColumns(await requireTable(ch, t.database, t.table, '--target'));
  const sourceColumns = s ? (await requireTable(ch, s.database, s.table, '--source')).map((c) => c.name) : undefined;
  return { targetColumns, sourceColumns };
}

const text = (v: string | number | undefined) => (v === undefined ? undefined : String(v));

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
export async function makePlan(cx: Session, input: PlanInput): Promise<PlanOutcome> {
  const { target, source } = input;
  if (!target) throw usageError('missing_target', 'missing --target <db.table>');
  const env = cx.environment();
  const db = cx.defaultDatabase;
  let request: Record<string, unknown> = {
    options: cx.rawOptions,
    target,
    from: input.from,
    to: input.to,
    // The core validates them as the flags' text: `1.5` rows is refused however it came.
    chunkHours: text(input.chunkHours),
    chunkRows: text(input.chunkRows),
    chunkBytes: text(input.chunkBytes),
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
  const schema = await loadSchema(cx.config.schema, cx.configPath);
  const t = parseTable(target, db, '--target');
  const s = source === undefined ? undefined : parseTable(source, db, '--source');
  // The embedded engine admits one process: a live run holds it, and must not be disturbed.
  const busy = env?.origin.startsWith('chdb:') ? embeddedEngineHolder(cx.paths, env.origin, '') : undefined;
  if (busy) throw usageError('engine_busy', `the embedded engine ${env!.origin} is in use by the run of plan ${busy.planId} (${describeHolder(busy)}); plan again when it ends`);
  const ch = env ? await cx.connect('plan') : undefined;
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
    if (!input.timeColumn && input.chooseTimeColumns) {
      request = { ...request, chosenTimeColumns: await input.chooseTimeColumns(preview) };
      preview = planPreview(request);
    }
    if (preview.dataRangeQueries.length > 0 && ch) {
      request = { ...request, dataRange: await dataRange(ch, preview.dataRangeQueries) };
    }
    if (ch) request = { ...request, ...(await readDistribution(ch, request, t)) };
    const bytes = buildPlanFile(request);
    const volume = volumeReport(request);
    const plan = planFromBytes(bytes, '(new plan)');
    const file = planPath(cx.paths, plan.planId);
    if (input.dryRun) return { plan, file, existed: readTextIfExists(file) !== undefined, kept: [], upgraded: false, preview, volume };
    const rebuild = (createdAt: string, asWritten: Layout) => buildPlanFile({ ...request, now: createdAt, ...asWritten });
    const written = writePlan(cx, plan, file, bytes, { force: input.force ?? false, discardApplied: input.discardApplied ?? false, rebuild });
    // The plan as stored: an existing identical plan keeps its file (and createdAt), which a run hashes.
    return { plan: readPlanFile(file), file, ...written, preview, volume };
  } finally {
    await ch?.close();
  }
}

interface WriteOptions {
  force: boolean;
  discardApplied: boolean;
  /** The same plan with another createdAt (to upgrade an existing plan in place), laid out as an earlier version wrote it if asked. */
  rebuild: (createdAt: string, asWritten: Layout) => Uint8Array;
}

/** What earlier versions wrote differently, for the same rows: every bound a `DateTime64`; every replayed query wrapped in `SELECT cols FROM (…)`. */
interface Layout {
  datetime64Bounds: boolean;
  wrappedReplays: boolean;
}

/** `bytes`: the plan file as the core laid it out (`jq .` shows it indented). */
function writePlan(cx: Session, plan: Plan, file: string, bytes: Uint8Array, o: WriteOptions): { existed: boolean; kept: string[]; upgraded: boolean } {
  const planId = plan.planId;
  const existing = readIfExists(file);
  if (existing === undefined) {
    writeFileAtomic(file, bytes);
    return { existed: false, kept: [], upgraded: false };
  }
  if (!o.force) {
    // Where this version writes DateTime bounds, an earlier one wrote DateTime64 bounds, which select
    // the same rows; where it writes a replayed query bare, an earlier one wrapped it, which inserts
    // the same rows. Such a plan is compared with the fresh one written as it was, and stays.
    const before = chunkLinesAt(existing) >= 0 ? parsedOrUndefined(headerOnly(existing)) : undefined;
    const datetime64Bounds = writesDateTimeBounds(plan) && before !== undefined && !writesDateTimeBounds(before);
    const layouts: Layout[] = [{ datetime64Bounds, wrappedReplays: false }];
    if (plan.strategy === 'mv_replay') layouts.push({ datetime64Bounds, wrappedReplays: true });
    let diff: string[] = [];
    for (const [k, layout] of layouts.entries()) {
      const asWritten = k === 0 && !datetime64Bounds ? bytes : o.rebuild(plan.createdAt, layout);
      const fresh = Buffer.from(asWritten.buffer, asWritten.byteOffset, asWritten.byteLength);
      const sameChunks = sameChunkLines(existing, fresh);
      // Chunk lines equal byte for byte: only the headers can differ (parsing megabytes of chunks to learn that is most of a re-plan).
      const d = sameChunks
        ? planDifferences(headerOnly(existing), headerOnly(fresh))
        : planDifferences(existing.toString('utf8'), fresh.toString('utf8'));
      if (d.length === 0) return { existed: true, kept: [], upgraded: false };
      // A plan of an earlier version lacks only the SQL digests: table and copy plans are checked
      // without them; an mv_replay plan whose chunk lines are byte for byte the fresh ones gets them.
      if (d.length === 1 && d[0] === 'sqlDigests' && !('sqlDigests' in readPlanFile(file))) {
        if (plan.strategy !== 'mv_replay') return { existed: true, kept: [], upgraded: false };
        if (sameChunks) {
          writeFileAtomic(file, o.rebuild(readPlanFile(file).createdAt, layout));
          return { existed: true, kept: [], upgraded: true };
        }
      }
      // What differs from the plan this version writes is what the message names.
      if (k === 0) diff = d;
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

const parsedOrUndefined = (json: string) => {
  try {
    return JSON.parse(json) as Pick<Plan, 'boundType' | 'views'>;
  } catch {
    return undefined;
  }
};
const writesDateTimeBounds = (p: Pick<Plan, 'boundType' | 'views'>) => p.boundType === 'DateTime' || (p.views ?? []).some((v) => v.boundType === 'DateTime');

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const HEADER_END = Buffer.from('"chunks":[');

/** Where a plan file's chunk lines start: after its first line when that is the header (the core's layout, src/plan_file.rs); -1 otherwise. */
function chunkLinesAt(b: Buffer): number {
  const nl = b.indexOf(0x0a);
  return nl >= HEADER_END.length && b.subarray(nl - HEADER_END.length, nl).equals(HEADER_END) ? nl : -1;
}

function sameChunkLines(a: Buffer, b: Buffer): boolean {
  const [i, j] = [chunkLinesAt(a), chunkLinesAt(b)];
  return i >= 0 && j >= 0 && a.subarray(i).equals(b.subarray(j));
}

/** The plan without its chunks: the header line, closed. */
const headerOnly = (b: Buffer) => b.toString('utf8', 0, chunkLinesAt(b)) + ']}';

type Applied = { done: number; total: number; rows: number; partial: number } | { unreadable: string };

/** What the stored run of the existing plan applied; undefined when it applied nothing. */
function appliedWork(cx: Session, file: string, planId: string): Applied | undefined {
  if (readTextIfExists(runPath(cx.paths, planId)) === undefined && readTextIfExists(eventPath(cx.paths, planId)) === undefined) return undefined;
  try {
    const { summary: s } = readRunSummary(cx, readPlanFile(file), 'whole');
    // Running (interrupted) and operator-stopped chunks may have written part of their rows.
    const partial = s.chunkCounts.running + s.needsOperator;
    return s.chunkCounts.done > 0 || partial > 0 ? { done: s.chunkCounts.done, total: s.chunkCounts.total, rows: s.rowsWritten, partial } : undefined;
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}

function appliedRefusal(cx: Session, plan: Plan, a: Applied): string {
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
    `To keep that work, keep the plan (\`${cx.programName} resume --plan-id ${plan.planId}\` continues its run). ` +
    'To replace it anyway, add --discard-applied: the old plan, run and events are kept under new names, not deleted'
  );
}

export interface PlanResult {
  ok: true;
  command: 'plan';
  planId: string;
  target: string;
  /** copy: the table rows are read from. */
  source?: string;
  from: string;
  to: string;
  chunkCount: number;
  /** Sized by hours; absent when `sizing` (rows or bytes) cut the chunks. */
  chunkHours?: number;
  sizing?: VolumeReport['sizing'];
  distribution?: {
    gridMinutes: number;
    expectedRows: VolumeReport['expectedRows'];
    expectedBytes?: VolumeReport['expectedBytes'];
    oversized: VolumeReport['oversized'];
    boundaries: string[];
  };
  /** Sized by rows or bytes: the rows each chunk is expected to read. */
  expectedRows?: number[];
  /** Sized by rows or bytes: the histogram of expected rows per chunk (80 columns). */
  histogram?: string[];
  timeColumn: string;
  strategy: Plan['strategy'];
  timeColumns: { table: string; column: string | null; origin: PlanPreview['timeColumns'][number]['origin'] }[];
  views?: Plan['views'];
  /** The target is a Distributed table. */
  distributed?: Plan['distributed'];
  /** The user's settings on every chunk INSERT. */
  insertSettings?: Plan['insertSettings'];
  statementsPerChunk: number;
  warnings: string[];
  planPath: string;
  /** The same plan was there already (its file, createdAt and run are kept). */
  existed: boolean;
  keptFiles?: string[];
  upgraded?: true;
  /** With `dryRun`: nothing was written. */
  dryRun?: true;
  chunks?: { id: string; from: string; to: string; expectedRows?: number; expectedBytes?: number }[];
  firstChunkSql?: string[];
  lastChunkSql?: string[];
}

/** Plan a backfill and write its plan file (or, with `dryRun`, only show it). */
export function planBackfill(config: BackfillConfig | Session, input: PlanInput): Promise<PlanResult> {
  return operation(config, async (s) => {
    if (input.discardApplied && !input.force) {
      throw usageError('invalid_flag', '--discard-applied only goes with --force (it lets --force replace a plan whose run applied chunks)');
    }
    const { plan, file, existed, kept, upgraded, preview, volume } = await makePlan(s, input);
    return {
      ok: true,
      command: 'plan',
      planId: plan.planId,
      target: plan.target,
      ...(plan.source ? { source: plan.source } : {}),
      from: plan.from,
      to: plan.to,
      chunkCount: plan.chunkCount,
      ...(plan.chunkHours !== undefined ? { chunkHours: plan.chunkHours } : {}),
      ...(volume
        ? {
            sizing: volume.sizing,
            distribution: {
              gridMinutes: volume.gridMinutes,
              expectedRows: volume.expectedRows,
              ...(volume.expectedBytes ? { expectedBytes: volume.expectedBytes } : {}),
              oversized: volume.oversized,
              boundaries: plan.volume?.boundaries ?? [],
            },
            expectedRows: plan.volume?.expectedRows ?? [],
            histogram: volume.histogram,
          }
        : {}),
      timeColumn: plan.timeColumn,
      strategy: plan.strategy,
      timeColumns: preview.timeColumns.map((c) => ({ table: c.table, column: c.column, origin: c.origin })),
      ...(plan.views ? { views: plan.views } : {}),
      ...(plan.distributed ? { distributed: plan.distributed } : {}),
      ...(plan.insertSettings ? { insertSettings: plan.insertSettings } : {}),
      statementsPerChunk: plan.chunk(0).statements?.length ?? 1,
      warnings: [...preview.warnings, ...(volume?.warnings ?? [])],
      planPath: file,
      existed,
      ...(kept.length ? { keptFiles: kept } : {}),
      ...(upgraded ? { upgraded: true as const } : {}),
      ...(input.dryRun ? dryRunPayload(plan) : {}),
    };
  });
}

/** The SQL a chunk executes, statement by statement. */
const chunkSql = (plan: Plan, i: number) => chunkStatements(plan.chunk(i), plan.target).map((st) => st.sql);

function dryRunPayload(plan: Plan): Pick<PlanResult, 'dryRun' | 'chunks' | 'firstChunkSql' | 'lastChunkSql'> {
  return {
    dryRun: true as const,
    chunks: Array.from({ length: plan.chunkCount }, (_, i) => {
      const c = plan.chunk(i);
      const expected = plan.volume ? { expectedRows: plan.volume.expectedRows[i], ...(plan.volume.expectedBytes ? { expectedBytes: plan.volume.expectedBytes[i] } : {}) } : {};
      return { id: c.id, from: c.from, to: c.to, ...expected };
    }),
    firstChunkSql: chunkSql(plan, 0),
    lastChunkSql: chunkSql(plan, plan.chunkCount - 1),
  };
}

