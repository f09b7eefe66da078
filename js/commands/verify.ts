// `verify`: compare, on the server, what the target holds for each chunk's window
// with what it should hold. The core (src/verify.rs) writes every query and draws
// every verdict; this shim gathers the facts, runs the queries (aggregates only:
// no rows reach the client) and stores the outcome in runs/<planId>.verify.json.
import fs from 'node:fs';
import { callCore, chunkStatements, planFacts, parseTable } from '../core/core.js';
import { defineCommand, planIdFlag, type Cx } from './command.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { usageError } from '../core/errors.js';
import { embeddedEngineHolder, describeHolder } from '../engine/lock.js';
import { loadRun } from '../engine/runs.js';
import { checkPlanId, eventLogReader, eventPath, readPlan, verifyPath, writeFileAtomic } from '../engine/store.js';
import { cliName, wrap } from '../cli/output.js';
import type { Plan } from '../engine/plan_file.js';
import type { LogReader } from '../core/core.js';

type Verdict = 'ok' | 'missing' | 'extra' | 'differs' | 'not_verifiable';

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

const VERDICT_TEXT: Record<Verdict, string> = { ok: 'ok', missing: 'missing', extra: 'extra', differs: 'differs', not_verifiable: 'not verifiable' };

/** The last `chunk_measured` of every chunk: the baseline (and checksum) the run recorded. */
function measurements(log: LogReader): Map<number, { before: number; expected: number; checksum?: string }> {
  const out = new Map<number, { before: number; expected: number; checksum?: string }>();
  for (let from = 0; ; ) {
    const { text, atEnd } = log.read(from);
    for (const line of text.split('\n')) {
      if (!line.includes('"chunk_measured"')) continue;
      try {
        const e = JSON.parse(line);
        out.set(e.chunk, { before: e.before, expected: e.expected, checksum: e.checksum });
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

export function readVerification(cx: Cx, planId: string): StoredVerification | undefined {
  try {
    return JSON.parse(fs.readFileSync(verifyPath(cx.paths, planId), 'utf8'));
  } catch {
    return undefined;
  }
}

/** One line about the last verification (status, doctor). */
export function verificationLine(v: StoredVerification): string {
  const s = v.summary;
  return `last verification ${v.verifiedAt} (${v.selection}): ${v.ok ? 'passed' : 'FAILED'}: ${summaryText(s)}`;
}

function summaryText(s: VerifySummary): string {
  return `${s.ok} ok, ${s.missing} missing, ${s.extra} extra, ${s.differs} differs, ${s.notVerifiable} not verifiable of ${s.chunks} chunk(s)`;
}

export const verifyCommand = defineCommand(
  'verify',
  'Check on the server that the target holds, chunk by chunk, what the backfill should have written',
  [
    planIdFlag,
    { name: '--chunks', type: 'boolean', description: 'List every chunk with its verdict' },
    { name: '--chunk', type: 'string[]', description: 'Verify only these chunks (numbers as status --chunks shows them, or ids)', placeholder: '<n|id>' },
    { name: '--sample', type: 'string', description: 'Verify k chunks spread over the window', placeholder: '<k>' },
  ],
  async (cx) => {
    const plan = readPlan(cx.paths, checkPlanId(cx.string('--plan-id')));
    const picks = (cx.ctx.flags['--chunk'] as string[] | undefined) ?? [];
    const sampleFlag = cx.string('--sample');
    if (sampleFlag !== undefined && !/^\d+$/.test(sampleFlag)) throw usageError('invalid_flag', `--sample takes a number of chunks, not '${sampleFlag}'`);
    const env = cx.environment();
    if (!env) await cx.connect(); // exit 2: no connection configured
    const facts = planFacts(plan, env!.database);
    const selected = callCore<number[]>('verifySelect', facts, picks, sampleFlag === undefined ? null : Number(sampleFlag));
    if (env!.origin.startsWith('chdb:')) {
      const holder = embeddedEngineHolder(cx.paths, env!.origin, '');
      if (holder) throw usageError('engine_busy', `the embedded engine ${env!.origin} is in use by the run of plan ${holder.planId} (${describeHolder(holder)})`);
    }

    const run = loadRun(cx, plan);
    let chunks;
    try {
      const measured = measurements(eventLogReader(eventPath(cx.paths, plan.planId)));
      chunks = selected.map((i) => ({ chunk: i, status: run.machine.chunk(i).s, ...measured.get(i) }));
    } finally {
      run.machine.close();
    }

    const ch = await cx.connect();
    let report: Report;
    try {
      const request = {
        facts,
        target: await tableFacts(ch, plan),
        views: (plan.views ?? []).map((v) => ({ name: v.name, timeColumn: v.timeColumn, columns: v.columns })),
        chunks,
        firstStatements: plan.strategy === 'mv_replay' && plan.chunkCount > 0 ? chunkStatements(plan.chunk(0), plan.target).map((s) => s.sql) : [],
      };
      const q = callCore<{ queries: { side: string; sql: string }[]; perChunk: boolean; notVerifiable?: string }>('verifyQueries', request);
      const answers: Record<string, unknown> = {};
      for (const { side, sql } of q.queries) {
        const rows = await ch.query<Record<string, unknown>>(sql);
        if (side === 'whole') answers.wholeKeys = Number(rows[0]?.__chkit_k ?? 0);
        else answers[side] = rows.map((r) => ({ chunk: Number(r.__chkit_chunk), c: Number(r.__chkit_c), h1: String(r.__chkit_h1 ?? ''), h2: String(r.__chkit_h2 ?? '') }));
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

    const verifiedAt = cx.now();
    const selection = picks.length ? 'chunks' : sampleFlag !== undefined ? 'sample' : 'all';
    const problems = report.chunks.filter((c) => c.verdict !== 'ok');
    const stored: StoredVerification = {
      planId: plan.planId,
      verifiedAt,
      ok: report.ok,
      selection,
      summary: report.summary,
      problems: problems.slice(0, 100).map((c) => ({ index: c.index, id: c.id, verdict: c.verdict, reason: c.reason })),
    };
    writeFileAtomic(verifyPath(cx.paths, plan.planId), JSON.stringify(stored) + '\n');

    const listed = cx.bool('--chunks') ? report.chunks : problems;
    const s = report.summary;
    const head = `Verify ${plan.planId} (${plan.target}, ${plan.strategy}): ${report.ok ? (s.notVerifiable ? 'no difference found' : 'ok') : 'differences found'}`;
    const text = [head, `  ${summaryText(s)}`];
    for (const c of listed) {
      const counts = c.expected !== undefined ? ` (${c.actual} of ${c.expected} ${c.unit})` : '';
      text.push(...wrap(`${c.from} → ${c.to} ${c.id}: ${VERDICT_TEXT[c.verdict]}${counts}${c.reason ? `: ${c.reason}` : ''}`, 100, `  #${String(c.index).padEnd(5)} `, '         '));
    }
    if (!report.ok) text.push(...wrap(`the chunks named do not hold what the backfill should have written: inspect those windows of ${plan.target} before re-running anything (a replay adds rows again), then \`${cliName(cx)} verify --plan-id ${plan.planId}\``, 80, '  ', '    '));
    return {
      exitCode: report.ok ? 0 : 1,
      json: {
        ok: report.ok,
        command: 'verify',
        planId: plan.planId,
        target: plan.target,
        strategy: plan.strategy,
        verifiedAt,
        selection,
        summary: s,
        chunks: listed,
        ...(report.ok ? {} : { error: `${s.missing + s.extra + s.differs} chunk(s) do not hold what they should`, code: 'verification_failed' }),
      },
      text,
    };
  },
);
