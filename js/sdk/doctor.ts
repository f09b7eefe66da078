// What is wrong with a plan and what to run about it. Facts are gathered here
// (state files, lock, and the server when it may be opened); the diagnosis and
// advice come from the core (src/doctor.rs).
import { callCore, chunkStatements, compatibilityToken, envFingerprint, parseTable, type DistributedTarget, type TableRef } from '../core/core.js';
import { describeFailure, ClickHouseFailure } from '../server/clickhouse.js';
import { embeddedEngineHolder, describeHolder, describeLiveHolder, planLockState } from '../engine/lock.js';
import { readRunSummary } from '../engine/runs.js';
import { replicated, targetTable } from '../server/schema_info.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { checkPlanId, readPlan } from '../engine/store.js';
import { clip } from '../core/text.js';
import { dataOptions } from './run.js';
import { makePlan } from './plan.js';
import type { Plan } from '../engine/plan_file.js';
import { readVerification, verificationLine } from './verify.js';
import { operation } from './errors.js';
import type { BackfillConfig, Session } from './session.js';

export interface Issue {
  code: string;
  severity: 'info' | 'warn' | 'error';
  message: string;
  /** What to run about it: arguments after the program name (`resume --plan-id …`). */
  command?: string;
  sql?: string;
}

export interface DoctorResult {
  ok: true;
  command: 'doctor';
  planId: string;
  target: string;
  /** No issue of severity warn or error. */
  healthy: boolean;
  status: string;
  issues: Issue[];
  notes: string[];
}

interface DoctorReport {
  planId: string;
  ok: boolean;
  issues: Issue[];
}

async function serverFacts(cx: Session, plan: Plan): Promise<Record<string, unknown> | { skipped: string }> {
  const env = cx.environment()!;
  // The embedded engine admits one process: never disturb a live run to diagnose it.
  if (env.origin.startsWith('chdb:')) {
    const holder = embeddedEngineHolder(cx.paths, env.origin, '');
    if (holder) return { skipped: `the embedded engine is in use by the run of plan ${holder.planId} (${describeHolder(holder)})` };
  }
  let ch;
  let facts: Record<string, unknown>;
  try {
    ch = await cx.connect('doctor');
    const [{ v }] = await ch.query<{ v: string }>('SELECT version() AS v');
    const t = parseTable(plan.target, env.database, '--target');
    const own = await targetTable(ch, t.database, t.table);
    const d = plan.distributed;
    // A Distributed target's rows land in its remote table: that engine decides deduplication.
    const landing = d && own ? ((await targetTable(ch, d.remoteDatabase, d.remoteTable)) ?? own) : own;
    const target = own && landing ? { ...landing, dependentViews: [...own.dependentViews, ...(landing === own ? [] : landing.dependentViews)] } : own;
    facts = { reachable: true, version: v, targetExists: !!target, targetEngine: target?.engine, dedupWindow: target?.dedupWindow ?? 0, dependentViews: target?.dependentViews ?? [] };
    if (d && own) facts.distributed = await distributedFacts(ch, t, d);
    if (landing && replicated(landing)) {
      const where = d ? { db: d.remoteDatabase, t: d.remoteTable } : { db: t.database, t: t.table };
      facts.replicatedWindow = await replicatedWindow(ch, where.db, where.t);
    }
  } catch (err) {
    if (err instanceof ClickHouseFailure) return { reachable: false, error: describeFailure(err) };
    throw err;
  } finally {
    await ch?.close();
  }
  if (plan.strategy === 'mv_replay' && facts.targetExists) Object.assign(facts, await viewDrift(cx, plan, await goneViews(cx, plan)));
  return facts;
}

/** The cluster's shards and the target's distribution queue. */
async function distributedFacts(ch: ClickHouse, t: TableRef, d: DistributedTarget) {
  const shards = await ch.query<{ shard_num: number; hosts: string }>(
    `SELECT shard_num, arrayStringConcat(groupArray(concat(host_name, ':', toString(port))), ', ') AS hosts
     FROM system.clusters WHERE cluster = {c:String} GROUP BY shard_num ORDER BY shard_num`,
    { params: { c: d.cluster } },
  );
  const [q] = await ch.query<{ files: string | number; errors: string | number; last: string }>(
    `SELECT sum(data_files) AS files, sum(error_count) AS errors, anyLast(last_exception) AS last
     FROM system.distribution_queue WHERE database = {db:String} AND table = {t:String}`,
    { params: { db: t.database, t: t.table } },
  );
  return {
    cluster: d.cluster,
    remote: `${d.remoteDatabase}.${d.remoteTable}`,
    shards: shards.map((s) => `${s.shard_num}: ${s.hosts}`),
    queueFiles: Number(q?.files ?? 0),
    queueErrors: Number(q?.errors ?? 0),
    lastException: q?.last || null,
  };
}

/** replicated_deduplication_window and …_seconds of a table: its own SETTINGS over the server's defaults. */
async function replicatedWindow(ch: ClickHouse, db: string, table: string): Promise<[number, number]> {
  const rows = await ch.query<{ name: string; value: string }>(
    `SELECT name, value FROM system.merge_tree_settings WHERE name IN ('replicated_deduplication_window', 'replicated_deduplication_window_seconds')`,
  );
  const [own] = await ch.query<{ q: string }>('SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = {t:String}', {
    params: { db, t: table },
  });
  const value = (name: string) => {
    const m = new RegExp(`\\b${name}\\s*=\\s*(\\d+)`).exec(own?.q ?? '');
    return Number(m ? m[1] : (rows.find((r) => r.name === name)?.value ?? 0));
  };
  return [value('replicated_deduplication_window'), value('replicated_deduplication_window_seconds')];
}

/** The plan's views that no longer exist on the server. */
async function goneViews(cx: Session, plan: Plan): Promise<string[]> {
  const ch = await cx.connect('doctor');
  try {
    const gone: string[] = [];
    for (const v of plan.views ?? []) {
      const t = parseTable(v.name, ch.environment.database, 'view');
      if (!(await targetTable(ch, t.database, t.table))) gone.push(v.name);
    }
    return gone;
  } finally {
    await ch.close();
  }
}

/** Plan the same window again (writing nothing) and compare each view's statement with the plan's. */
async function viewDrift(cx: Session, plan: Plan, gone: string[]): Promise<{ changedViews: string[]; missingViews: string[] }> {
  const planned = (plan.views ?? []).map((v) => v.name);
  if (gone.length > 0) return { changedViews: [], missingViews: gone };
  let fresh: Plan;
  try {
    ({ plan: fresh } = await makePlan(cx, {
      target: plan.target,
      from: plan.from,
      to: plan.to,
      ...(plan.volume
        ? 'rows' in plan.volume.sizing
          ? { chunkRows: String(plan.volume.sizing.rows) }
          : { chunkBytes: String(plan.volume.sizing.bytes) }
        : { chunkHours: String(plan.chunkHours) }),
      timeColumn: plan.timeColumn,
      forceLargeWindow: true,
      dryRun: true,
      // The plan's own settings: the same statements unless a view changed.
      settings: Object.entries(plan.insertSettings ?? {}).map(([k, v]) => `${k}=${v}`),
    }));
  } catch (err) {
    // The views as they are now cannot be planned at all (dropped source, unsupported query, …).
    return { changedViews: planned.map((v) => `${v} (${(err as Error).message})`), missingViews: [] };
  }
  // No view feeds the target any more: planning now would copy the table itself.
  if (fresh.strategy !== 'mv_replay') return { changedViews: [], missingViews: planned };
  const now = new Map(chunkStatements(fresh.chunk(0), fresh.target).map((st) => [st.label, st.sql]));
  const then = chunkStatements(plan.chunk(0), plan.target);
  return {
    missingViews: then.filter((st) => !now.has(st.label)).map((st) => st.label),
    changedViews: [
      ...then.filter((st) => now.has(st.label) && now.get(st.label) !== st.sql).map((st) => st.label),
      ...[...now.keys()].filter((label) => !then.some((st) => st.label === label)).map((label) => `${label} (new, not in the plan)`),
    ],
  };
}

export function diagnoseBackfill(config: BackfillConfig | Session, req: { planId: string }): Promise<DoctorResult> {
  return operation(config, async (cx) => {
    const plan = readPlan(cx.paths, checkPlanId(req.planId));
    // The whole file: a diagnosis also finds a plan edited after it was made.
    const { summary } = readRunSummary(cx, plan, 'whole');
    const lock = planLockState(cx.paths, plan.planId);
    const env = cx.environment();
    const configured = env ? envFingerprint(env.origin, env.database) : undefined;
    const envMismatch =
      plan.environment && configured && plan.environment.fingerprint !== configured
        ? [`${plan.environment.url} (database ${plan.environment.database})`, `${env!.origin} (database ${env!.database})`]
        : null;
    const compatibilityChanged = !!summary.compatibility && summary.compatibility !== compatibilityToken(plan.sha256, dataOptions(cx.options));
    const server = env ? await serverFacts(cx, plan) : undefined;
    const notes: string[] = [];
    if (server && 'skipped' in server) notes.push(`server checks skipped: ${server.skipped}`);
    const verification = readVerification(cx.paths, plan.planId);
    if (verification) {
      notes.push(verificationLine(verification) + (verification.ok ? '' : `; \`verify --plan-id ${plan.planId} --chunks\` names the chunks`));
    }
    if (lock && !lock.liveness.live) notes.push(`stale lock of ${describeHolder(lock.info)}: ${lock.liveness.reason}; the next run or resume takes it over`);
    else if (lock?.liveness.live && (lock.liveness.quiet || lock.liveness.stopped)) notes.push(`the lock is held by ${describeLiveHolder(lock.info, lock.liveness)}`);

    const report = callCore<DoctorReport>('diagnose', {
      planId: plan.planId,
      target: plan.target,
      strategy: plan.strategy,
      requireIdempotencyToken: plan.options.requireIdempotencyToken,
      run:
        summary.status === null
          ? null
          : {
              status: summary.status,
              failedChunks: summary.chunkCounts.failed,
              pendingChunks: summary.chunkCounts.pending + summary.chunkCounts.running,
              lastError: summary.lastError ? clip(summary.lastError.message.split('\n')[0], 300) : null,
              lastErrorType: summary.lastError?.type ?? null,
              blockedChunks: summary.needsOperator,
              unverifiedChunks: summary.unverified,
              // As `plan --force` counts them: done, and interrupted or stopped chunks that may have written rows.
              appliedChunks: summary.chunkCounts.done + summary.chunkCounts.running + summary.needsOperator,
            },
      lock: lock ? { pid: lock.info.pid, host: lock.info.host, live: lock.liveness.live } : null,
      environmentMismatch: envMismatch,
      compatibilityChanged,
      server: server && !('skipped' in server) ? server : null,
    });
    return { ok: true, command: 'doctor', planId: plan.planId, target: plan.target, healthy: report.ok, status: summary.status ?? 'planned', issues: report.issues, notes };
  });
}
