// `verify`: compare, on the server, what the target holds for each chunk's window
// with what it should hold. The core (src/verify.rs) writes every query and draws
// every verdict; this shim gathers the facts, runs the queries (aggregates only:
// no rows reach the client) and stores the outcome in runs/<planId>.verify.json.
import fs from 'node:fs';
import { callCore, chunkStatements, parseTable } from '../core/core.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { usageError } from '../core/errors.js';
import { embeddedEngineHolder, describeHolder } from '../engine/lock.js';
import { loadRun, planFacts } from '../engine/runs.js';
import { checkPlanId, eventLogReader, eventPath, readPlan, verifyPath, writeFileAtomic, type StatePaths } from '../engine/store.js';
import { operation } from './errors.js';
import type { BackfillConfig, Session } from './session.js';
import type { Plan } from '../engine/plan_file.js';
import type { LogReader } from '../core/core.js';

export type Verdict = 'ok' | 'missing' | 'extra' | 'differs' | 'not_verifiable';

export interface ChunkVerdict {
  index: number;
  id: string;
  from: string;
  to: string;
  verdict: Verdict;
  unit: 'rows' | 'keys';
  expected?: number;
  actual?: number;
  contentChecked: boolean;
  reason?: string;
}

export interface VerifySummary {
  chunks: number;
  compared: number;
  ok: number;
  missing: number;
  extra: number;
  differs: number;
  notVerifiable: number;
}

interface Report {
  ok: boolean;
  summary: VerifySummary;
  chunks: ChunkVerdict[];
}

/** What runs/<planId>.verify.json holds: the last verification, for status, doctor and check. */
export interface StoredVerification {
  planId: string;
  verifiedAt: string;
  ok: boolean;
  selection: 'all' | 'chunks' | 'sample';
  summary: VerifySummary;
  /** The chunks not ok (the first 100). */
  problems: { index: number; id: string; verdict: Verdict; reason?: string }[];
}


/** The last `chunk_measured` or `windows_measured` of every chunk: the baseline (and checksum) the run recorded. */
function measurements(log: LogReader): Map<number, { before: number; expected: number; checksum?: string }> {
  const out = new Map<number, { before: number; expected: number; checksum?: string }>();
  for (let from = 0; ; ) {
    const { text, atEnd } = log.read(from);
    for (const line of text.split('\n')) {
      if (!line.includes('"chunk_measured"') && !line.includes('"windows_measured"')) continue;
      try {
        const e = JSON.parse(line);
        if (e.event === 'windows_measured') {
          e.chunks.forEach((c: number, k: number) => out.set(c, { before: e.before[k], expected: e.expected[k], checksum: e.checksums?.[k] }));
        } else out.set(e.chunk, { before: e.before, expected: e.expected, checksum: e.checksum });
      } catch {
        // a torn last line
      }
    }
    if (atEnd) return out;
    from += Buffer.byteLength(text);
  }
}

async function tableFacts(ch: ClickHouse, plan: Plan) {
  const t = parseTable(plan.target, ch.environment.database, '--target');
  const params = { db: t.database, t: t.table };
  const [info] = await ch.query<{ engine: string; engine_full: string; sorting_key: string }>(
    'SELECT engine, engine_full, sorting_key FROM system.tables WHERE database = {db:String} AND name = {t:String}',
    { params },
  );
  if (!info) throw usageError('table_not_found', `the target ${plan.target} does not exist on the server`);
  const columns = await ch.query<{ name: string; type: string; default_kind: string }>(
    'SELECT name, type, default_kind FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position',
    { params },
  );
  return {
    engine: info.engine,
    engineFull: info.engine_full,
    sortingKey: info.sorting_key,
    columns: columns.map((c) => ({ name: c.name, type: c.type, defaultKind: c.default_kind })),
  };
}

export function readVerification(paths: StatePaths, planId: string): StoredVerification | undefined {
  try {
    return JSON.parse(fs.readFileSync(verifyPath(paths, planId), 'utf8'));
  } catch {
    return undefined;
  }
}

export interface VerifyRequest {
  planId: string;
  /** Only these chunks: 1-based numbers as `status --chunks` shows them, or chunk ids. */
  chunks?: string[];
  /** k chunks spread over the window. */
  sample?: number;
  /** List every chunk in the result, not only those not ok. */
  listAll?: boolean;
}

export interface VerifyResult {
  /** Every compared chunk is ok. */
  ok: boolean;
  command: 'verify';
  planId: string;
  target: string;
  strategy: string;
  verifiedAt: string;
  selection: StoredVerification['selection'];
  summary: VerifySummary;
  /** Every chunk with `listAll`, otherwise those not ok. */
  chunks: ChunkVerdict[];
  error?: string;
  code?: 'verification_failed';
}

/** Compare every selected chunk's window of the target with what it should hold; stores the outcome. */
export function verifyBackfill(config: BackfillConfig | Session, req: VerifyRequest): Promise<VerifyResult> {
  return operation(config, async (s) => {
    const plan = readPlan(s.paths, checkPlanId(req.planId));
    const picks = req.chunks ?? [];
    if (req.sample !== undefined && !(Number.isInteger(req.sample) && req.sample >= 0)) {
      throw usageError('invalid_flag', `--sample takes a number of chunks, not '${req.sample}'`);
    }
    const env = s.environment();
    if (!env) await s.connect('verify'); // exit 2: no connection configured
    const facts = planFacts(plan, env!.database);
    const selected = callCore<number[]>('verifySelect', facts, picks, req.sample ?? null);
    if (env!.origin.startsWith('chdb:')) {
      const holder = embeddedEngineHolder(s.paths, env!.origin, '');
      if (holder) throw usageError('engine_busy', `the embedded engine ${env!.origin} is in use by the run of plan ${holder.planId} (${describeHolder(holder)})`);
    }

    const run = loadRun(s, plan);
    let chunks;
    try {
      const measured = measurements(eventLogReader(eventPath(s.paths, plan.planId)));
      chunks = selected.map((i) => ({ chunk: i, status: run.machine.chunk(i).s, ...measured.get(i) }));
    } finally {
      run.machine.close();
    }

    const ch = await s.connect('verify');
    let report: Report;
    try {
      const request = {
        facts,
        target: await tableFacts(ch, plan),
        views: (plan.views ?? []).map((v) => ({ name: v.name, timeColumn: v.timeColumn, boundType: v.boundType, columns: v.columns })),
        chunks,
        firstStatements: plan.strategy === 'mv_replay' && plan.chunkCount > 0 ? chunkStatements(plan.chunk(0), plan.target).map((s) => s.sql) : [],
      };
      const q = callCore<{ queries: { side: string; sql: string }[]; perChunk: boolean; notVerifiable?: string }>('verifyQueries', request);
      const answers: Record<string, unknown> = {};
      for (const { side, sql } of q.queries) {
        const rows = await ch.query<Record<string, unknown>>(sql);
        if (side === 'whole') answers.wholeKeys = Number(rows[0]?.__chkit_k ?? 0);
        else {
          // __chkit_h3: the sipHash64 sum, asked for only to compare baselines an earlier version recorded.
          answers[side] = rows.map((r) => ({
            chunk: Number(r.__chkit_chunk), c: Number(r.__chkit_c), h1: String(r.__chkit_h1 ?? ''), h2: String(r.__chkit_h2 ?? ''),
            ...('__chkit_h3' in r ? { h3: String(r.__chkit_h3 ?? '') } : {}),
          }));
        }
      }
      if (q.perChunk) {
        // Every chunk's view, even when only some are reported: that no key comes from two chunks is a fact about all of them.
        const mv = [];
        for (let i = 0; i < plan.chunkCount; i++) {
          const sql = callCore<string>('verifyMvChunkSql', request, chunkStatements(plan.chunk(i), plan.target).map((s) => s.sql));
          const [r] = await ch.query<Record<string, string | number>>(sql);
          mv.push({
            chunk: i,
            vc: Number(r.vc), vh1: String(r.vh1), vh2: String(r.vh2), vk: Number(r.vk), vn: Number(r.vn),
            tc: Number(r.tc), th1: String(r.th1), th2: String(r.th2),
          });
        }
        answers.mv = mv;
      }
      report = callCore<Report>('verifyJudge', request, answers);
    } finally {
      await ch.close();
    }

    const verifiedAt = s.now();
    const selection = picks.length ? 'chunks' : req.sample !== undefined ? 'sample' : 'all';
    const problems = report.chunks.filter((c) => c.verdict !== 'ok');
    const stored: StoredVerification = {
      planId: plan.planId,
      verifiedAt,
      ok: report.ok,
      selection,
      summary: report.summary,
      problems: problems.slice(0, 100).map((c) => ({ index: c.index, id: c.id, verdict: c.verdict, reason: c.reason })),
    };
    writeFileAtomic(verifyPath(s.paths, plan.planId), JSON.stringify(stored) + '\n');

    const listed = req.listAll ? report.chunks : problems;
    const sum = report.summary;
    return {
      ok: report.ok,
      command: 'verify',
      planId: plan.planId,
      target: plan.target,
      strategy: plan.strategy,
      verifiedAt,
      selection,
      summary: sum,
      chunks: listed,
      ...(report.ok ? {} : { error: `${sum.missing + sum.extra + sum.differs} chunk(s) do not hold what they should`, code: 'verification_failed' as const }),
    };
  });
}

/** One line about the last verification (status, doctor). */
export function verificationLine(v: StoredVerification): string {
  return `last verification ${v.verifiedAt} (${v.selection}): ${v.ok ? 'passed' : 'FAILED'}: ${verifySummaryText(v.summary)}`;
}

export function verifySummaryText(s: VerifySummary): string {
  return `${s.ok} ok, ${s.missing} missing, ${s.extra} extra, ${s.differs} differs, ${s.notVerifiable} not verifiable of ${s.chunks} chunk(s)`;
}
