// The driver: executes what the run state machine (src/run_state.rs) asks
// for. It owns the clock, timers, concurrency, signals, cancel polling, the
// lock heartbeat and the files; every decision comes from the core.
import fs from 'node:fs';
import { chunkStatements, insertCounters, insertCountersSql, judgeInserted, judgeRecount, parseTable, partsMaxBlockSql, syncReplicaSql, partsAfterSql, partsRowsAfter, replayRowsSql, rowsBy, rowsFromCounters, sqlWithoutDeduplication, type CountedInsert, type InsertCounters, type TableRef, type Verdict, type Baseline, type ChunkError, type RunAction, type RunEvent, type RunMachine, type RunStatus } from '../core/core.js';
import { needsGrant, type ClickHouse, type ClickHouseFailure } from '../server/clickhouse.js';
import type { PlanLock } from './lock.js';
import type { Plan } from './plan_file.js';
import { fsError } from '../core/errors.js';
import { writeFileAtomic, type EventLog } from './store.js';

export type StartAction = Extract<RunAction, { action: 'start_chunk' }>;

export type Outcome =
  /** `statementMs`: the chunk's statements in this attempt, sent → returned (none when found applied). */
  | { kind: 'succeeded'; rows: number; recovered?: boolean; unverified?: boolean; statementMs?: number }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; error: ChunkError; needsOperator?: boolean }
  | { kind: 'interrupted' }
  /** The INSERT returned; the chunk is done once `check` counts its window (see `ChunkExecutor.check`). */
  | { kind: 'inserted'; baseline: Baseline; statementMs?: number };

/** An attempt's outcome as the log records it. */
type Concluded = Exclude<Outcome, { kind: 'inserted' }>;

/** An inserted chunk waiting for its window's count. */
export interface AwaitingCheck {
  action: StartAction;
  baseline: Baseline;
}

export interface AttemptIO {
  /** Log an intermediate event (`chunk_measured`, `statement_succeeded`); false when the run lost its lock. */
  record(e: RunEvent): boolean;
  /** Make durable what the attempt's next write to the server depends on (its announcement, its own events); call before each. */
  durable(): void;
  /** Throws when the run lost its lock: call right before sending each statement, which must then not be sent. */
  beforeStatement(): void;
  signal: AbortSignal;
}

/** Executes one attempt of one chunk. Swappable so the bench can measure the driver alone. */
export interface ChunkExecutor {
  run(a: StartAction, io: AttemptIO): Promise<Outcome>;
  /** Stop the attempt's statements on the server. */
  kill(a: StartAction): Promise<void>;
  /**
   * Count the windows of inserted chunks with one query (`sql`, from the core) and judge each:
   * the count that used to follow each INSERT, for many chunks at once. Required of an
   * executor whose `run` returns `inserted`.
   */
  check?(batch: AwaitingCheck[], sql: string): Promise<Concluded[]>;
}

export interface DriveInput {
  machine: RunMachine;
  log: EventLog;
  executor: ChunkExecutor;
  /** runs/<planId>.json */
  snapshotFile: string;
  /** runs/<planId>.cancel: written by `cancel` from another process. */
  cancelFile?: string;
  /** Checked before every log line, snapshot and statement (fencing); losing it ends the run with exit 1. */
  lock?: PlanLock;
  /** Listen to SIGINT/SIGTERM (pause). Off for in-process benches. */
  signals?: boolean;
  /** Aborted: pause as at a first SIGINT (the SDK's caller stops a run this way). */
  abort?: AbortSignal;
  now?: () => number;
  /** The target's time column converts exactly to the chunk grid's milliseconds: inserted chunks are counted by one GROUP BY. */
  countsOnGrid?: boolean;
  /** Called about four times a second with the indexes of the chunks in flight and their query ids (progress display). */
  onTick?: (inFlight: number[], queryIds: string[]) => void;
}

const POLL_MS = 250;
const CHECK_BATCH = 32;
const CHECK_AGE_MS = 1000;

export async function drive(d: DriveInput): Promise<RunStatus> {
  const now = d.now ?? Date.now;
  const inFlight = new Map<number, { action: StartAction; abort: AbortController; settled: Promise<Outcome> }>();
  let wakeUp: (() => void) | undefined;
  const wake = () => {
    const w = wakeUp;
    wakeUp = undefined;
    w?.();
  };

  // Two ways a run must stop writing at once, both ending it with exit 1 once its attempts
  // settled. Fenced: the lock was found lost or taken, so nothing more is written, to the
  // server or to the state files (in-flight statements are the new owner's to check). Broken:
  // a state write failed (disk full, read-only, I/O error); the lock is still ours, so its
  // in-flight statements are killed as at a cancel (the log may end in a torn line, which
  // loading cuts off).
  let fenced: Error | undefined;
  let broken: unknown;
  const fenceOut = (err: unknown) => {
    if (fenced) return;
    fenced = err instanceof Error ? err : new Error(String(err));
    for (const f of inFlight.values()) f.abort.abort();
    wake();
  };
  const halt = (err: unknown, file: string) => {
    if (broken || fenced) return;
    broken = fsError(err, file) ?? err;
    killAll();
    wake();
  };
  /** False when this run may no longer write: its lock is gone (now fenced) or a state write failed. */
  const holding = (): boolean => {
    if (fenced || broken) return false;
    try {
      d.lock?.verify();
      return true;
    } catch (err) {
      if (fsError(err)) halt(err, d.lock?.file ?? d.snapshotFile);
      else fenceOut(err);
      return false;
    }
  };

  let lastSnapshot = 0;
  let snapshotCost = 0;
  const syncLog = (upTo = d.log.bytes): boolean => {
    try {
      d.log.syncTo(upTo);
      return true;
    } catch (err) {
      halt(err, d.log.file);
      return false;
    }
  };
  // The end of the last `chunks_intended` this process logged: every attempt it starts
  // depends on it (its own `chunk_started` line does not need to be durable).
  let intentEnd = 0;
  const writeSnapshot = () => {
    const t0 = Date.now();
    // Checked first: should this process be stopped between the check and the rename and lose
    // the lock meanwhile, its snapshot covers only lines written before, which the new owner's
    // log holds too (it copied them), so loading from it stays right.
    if (!holding()) return;
    // A snapshot never covers log bytes a power loss could take back: a snapshot ahead of
    // its log means the log lost events, which loading refuses.
    if (!syncLog()) return;
    try {
      d.log.assertSoleWriter();
    } catch (err) {
      fenceOut(err);
      return;
    }
    try {
      writeFileAtomic(d.snapshotFile, d.machine.snapshot(d.log.bytes) + '\n');
    } catch (err) {
      return halt(err, d.snapshotFile);
    }
    lastSnapshot = Date.now();
    snapshotCost = lastSnapshot - t0;
  };
  /** Log an event; false when the run may no longer write (nothing was logged). */
  const record = (e: RunEvent): boolean => {
    if (!holding()) return false;
    const line = d.machine.apply(e, now());
    try {
      d.log.append(line);
    } catch (err) {
      halt(err, d.log.file);
      return false;
    }
    // About once a second, and never more than ~10% of the time on big runs.
    if (Date.now() - lastSnapshot >= Math.max(1000, 10 * snapshotCost)) writeSnapshot();
    return true;
  };

  let stopping: 'cancel' | 'pause' | undefined;
  // Kills in progress: the run does not finish before the server confirms them.
  const kills: Promise<void>[] = [];
  const killAll = () => {
    for (const f of inFlight.values()) {
      if (f.abort.signal.aborted) continue;
      f.abort.abort();
      kills.push(killUntilSettled(f));
    }
  };
  // A KILL sent just before the statement reaches the server finds nothing:
  // repeat it until the attempt has settled, then say what happened.
  const killUntilSettled = async (f: { action: StartAction; settled: Promise<Outcome> }) => {
    const id = f.action.chunkId;
    let settled: Outcome | undefined;
    void f.settled.then((o) => (settled = o));
    try {
      while (!settled) {
        await d.executor.kill(f.action);
        await Promise.race([f.settled, new Promise((r) => setTimeout(r, 100))]);
      }
      record({
        event: 'note',
        message:
          // An insert that returned is its statement finished, whether or not its window is counted yet.
          settled.kind === 'succeeded' || settled.kind === 'inserted'
            ? `chunk ${id}: its statement finished before the kill reached it`
            : `chunk ${id}: killed its in-flight query; the server no longer lists it`,
      });
    } catch (err) {
      record({ event: 'note', message: `chunk ${id}: could not kill its query: ${(err as Error)?.message ?? err}` });
    }
  };
  const stop = (how: 'cancel' | 'pause', e: RunEvent) => {
    if (stopping === 'cancel' || stopping === how) return;
    stopping = how;
    record(e);
    if (how === 'cancel') killAll();
    wake();
  };

  const onSignal = (sig: NodeJS.Signals) => {
    // First signal: finish what is in flight and pause. Second: stop it now.
    if (stopping) killAll();
    else stop('pause', { event: 'pause_requested', signal: sig });
  };
  let lastBeat = Date.now();
  const timer = setInterval(() => {
    try {
      if (d.cancelFile && !stopping && fs.existsSync(d.cancelFile)) {
        let by = 'cancel';
        try {
          by = JSON.parse(fs.readFileSync(d.cancelFile, 'utf8')).by ?? by;
        } catch {
          // A request being written: act on it anyway.
        }
        stop('cancel', { event: 'cancel_requested', by });
      }
      d.onTick?.([...inFlight.keys()], [...inFlight.values()].flatMap((f) => f.action.queryIds));
      if (d.lock && !fenced && Date.now() - lastBeat >= 1000) {
        lastBeat = Date.now();
        d.lock.heartbeat();
      }
    } catch (err) {
      // A heartbeat the disk refused is a failed state write, not a lost lock.
      if (fsError(err)) halt(err, d.lock?.file ?? d.snapshotFile);
      // Lost the lock (taken over, or its file removed): stop writing at once.
      else fenceOut(err);
    }
  }, POLL_MS);
  if (d.signals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const onAbort = () => stop('pause', { event: 'pause_requested', signal: 'abort' });
  if (d.abort?.aborted) onAbort();
  else d.abort?.addEventListener('abort', onAbort, { once: true });

  const launch = (a: StartAction) => {
    if (a.announce?.length) {
      if (!record({ event: 'chunks_intended', chunks: a.announce })) return;
      intentEnd = d.log.bytes;
    }
    if (!record({ event: 'chunk_started', chunk: a.chunk, chunkId: a.chunkId, attempt: a.attempt, queryId: a.queryIds[0] })) return;
    // What must be durable before this attempt's next statement: the announcement that covers
    // it (one fsync for many chunks), then whatever the attempt itself logs (a baseline, a
    // statement done). A start no announcement covered (none is expected) waits for its own line.
    let needs = intentEnd > 0 ? intentEnd : d.log.bytes;
    const abort = new AbortController();
    const io: AttemptIO = {
      record: (e) => {
        const ok = record(e);
        if (ok) needs = d.log.bytes;
        return ok;
      },
      // Throws once the log cannot be written or the lock is gone: the attempt then sends nothing.
      durable: () => {
        if (!holding() || !syncLog(needs)) throw fenced ?? broken;
      },
      beforeStatement: () => {
        if (!holding()) throw fenced ?? broken;
      },
      signal: abort.signal,
    };
    const settled = d.executor
      .run(a, io)
      .catch((err): Outcome => ({ kind: 'failed', error: { message: String((err as Error)?.message ?? err), origin: 'network' } }));
    inFlight.set(a.chunk, { action: a, abort, settled });
    void settled.then((o) => {
      inFlight.delete(a.chunk);
      if (o.kind === 'inserted') {
        // Out of flight (the next chunk may start) but running in the log until counted.
        if (!record({ event: 'chunk_inserted', chunk: a.chunk, statementMs: o.statementMs })) return wake();
        awaiting.push({ action: a, baseline: o.baseline, at: Date.now() });
        wake();
        return;
      }
      conclude(a, o);
    });
  };
  /** Log an attempt's outcome. */
  const conclude = (a: StartAction, o: Concluded) => {
    if (o.kind === 'succeeded') record({ event: 'chunk_succeeded', chunk: a.chunk, rows: o.rows, recovered: o.recovered, unverified: o.unverified, statementMs: o.statementMs });
    else if (o.kind === 'skipped') record({ event: 'chunk_skipped', chunk: a.chunk, reason: o.reason });
    else if (o.kind === 'interrupted' || (stopping && o.kind === 'failed' && o.error.origin === 'aborted'))
      record({ event: 'chunk_interrupted', chunk: a.chunk });
    else record({ event: 'chunk_failed', chunk: a.chunk, error: o.error, needsOperator: o.needsOperator });
    wake();
  };

  // Inserted chunks whose windows are counted together: one query for up to CHECK_BATCH of them,
  // no later than CHECK_AGE_MS after the oldest returned, and before the run waits with
  // nothing in flight or finishes. A crash before the count leaves them running in the log:
  // uncertain, counted on resume, as a crash between an INSERT and its own count did.
  const awaiting: (AwaitingCheck & { at: number })[] = [];
  const checkDue = () =>
    awaiting.length > 0 && (inFlight.size === 0 || awaiting.length >= CHECK_BATCH || Date.now() - awaiting[0].at >= CHECK_AGE_MS);
  const checkAwaiting = async () => {
    const batch = awaiting.splice(0);
    if (!batch.length || fenced || broken) return;
    let outcomes: Concluded[];
    try {
      outcomes = await d.executor.check!(batch, d.machine.checkCountsSql(batch.map((b) => b.action.chunk), d.countsOnGrid ?? false));
    } catch (err) {
      outcomes = batch.map((): Concluded => ({ kind: 'failed', error: { message: String((err as Error)?.message ?? err), origin: 'network' } }));
    }
    batch.forEach((b, k) => conclude(b.action, outcomes[k]));
  };
  // One count at a time, beside the inserts: the chunks started meanwhile write windows outside
  // the counted ones, so the run goes on instead of waiting for it, and waits before it ends.
  let checking: Promise<void> | undefined;
  let checkFailed: { err: unknown } | undefined;
  const startCheck = () => {
    checking = checkAwaiting()
      .catch((err) => void (checkFailed = { err }))
      .finally(() => {
        checking = undefined;
        wake();
      });
  };

  try {
    writeSnapshot();
    next: for (;;) {
      if (checkFailed) throw checkFailed.err;
      if (fenced) {
        // Their statements were aborted here; on the server they are the new owner's to check.
        await Promise.all([...inFlight.values()].map((f) => f.settled));
        await checking;
        throw fenced;
      }
      if (broken) {
        // In-flight attempts were aborted and are being killed: wait for them, then fail.
        while (inFlight.size || kills.length || checking) await Promise.all([...kills.splice(0), ...[...inFlight.values()].map((f) => f.settled), checking]);
        throw broken;
      }
      const actions = d.machine.nextActions(now(), inFlight.size);
      let waitAt: number | undefined;
      let started = false;
      for (const a of actions) {
        if (a.action === 'start_chunk') {
          launch(a);
          started = true;
        } else if (a.action === 'wait_until') waitAt = a.at;
        else {
          if (kills.length) {
            await Promise.all(kills.splice(0));
            continue next; // the kills logged notes meanwhile: ask again
          }
          if (!checking && awaiting.length) startCheck();
          if (checking) {
            await checking;
            continue next;
          }
          if (!record({ event: 'run_finished', status: a.status })) continue next;
          writeSnapshot(); // syncs the log first
          if (broken || fenced) continue next;
          return a.status;
        }
      }
      if (!checking && checkDue()) startCheck();
      if (started) continue;
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        if (waitAt !== undefined) setTimeout(wake, Math.max(0, waitAt - now()));
      });
    }
  } finally {
    await checking; // a throw above never leaves a count running behind the run
    clearInterval(timer);
    if (d.signals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    d.abort?.removeEventListener('abort', onAbort);
  }
}

/** One measured insert at a time per process: another insert's parts would count as ours. */
let measuring: Promise<unknown> = Promise.resolve();

/**
 * Per run: a table's highest block number read right after the last insert measured into it.
 * Inserts are measured one at a time and nothing else may write to the target during a run
 * (the assumption every row-count check makes), so it is the next insert's "before".
 */
type HighestBlocks = Map<string, number>;

/**
 * Rows an INSERT wrote, from the parts it created: every insert block gets a new block
 * number, so the single-block parts above the highest block number seen before the insert
 * are its own (at their lowest level, in case a merge already rewrote one). A block dropped
 * by deduplication makes no part and counts 0. Assumes nothing else inserts meanwhile, as
 * the row-count checks do. One query per insert: the one after it also reads the next
 * insert's "before".
 */
async function insertedRows(ch: ClickHouse, t: TableRef, m: Measures, exec: () => Promise<{ writtenRows?: number }>): Promise<{ writtenRows: number }> {
  return measured(async () => {
    // Forgotten until this insert is measured: one that failed may have committed some blocks.
    let before = m.highest.get(tableKey(t));
    m.highest.delete(tableKey(t));
    m.counters = undefined; // it moves the counters too
    if (before === undefined) before = await count(ch, partsMaxBlockSql(t));
    await exec();
    const parts = await ch.query<{ b: string | number; e: string | number; r: string | number; l: string | number }>(partsAfterSql(t, before));
    const r = partsRowsAfter(parts.map((p) => ({ b: Number(p.b), e: Number(p.e), r: Number(p.r), l: Number(p.l) })), before);
    m.highest.set(tableKey(t), r.top);
    return { writtenRows: r.c };
  });
}

/**
 * Rows an INSERT wrote, from the engine's counters before and after it, where they are this
 * process's and the target is a MergeTree no view reads from: exact unless something else moved
 * them (`rows_from_counters` says what). One query per insert: its reading is the next one's "before".
 */
async function countedRows(ch: ClickHouse, t: TableRef, m: Measures, execThenRead: (readSql: string) => Promise<CounterRow[]>): Promise<CountedInsert> {
  return measured(async () => {
    m.highest.delete(tableKey(t)); // its parts raise the table's highest block
    const before = m.counters ?? counters(await ch.query<CounterRow>(insertCountersSql()));
    m.counters = undefined;
    // Read in the INSERT's own call: nothing of this process runs in between (`measured`).
    const after = counters(await execThenRead(insertCountersSql()));
    m.counters = after;
    return rowsFromCounters(before, after);
  });
}

type CounterRow = { event: string; value: string | number };
const counters = (rows: CounterRow[]) => insertCounters(rows.map((r) => ({ event: r.event, value: Number(r.value) })));

/** What the inserted-rows checks carry from one insert to the next, per run. */
interface Measures {
  highest: HighestBlocks;
  /** The counters as read right after the last insert measured by them; gone once another is measured. */
  counters?: InsertCounters;
  /** An insert fed views that appeared since the run started: measure by parts from then on. */
  countersOff?: boolean;
}

const tableKey = (t: TableRef) => JSON.stringify([t.database, t.table]);

/** `fn` in its turn among the measured inserts of this process. */
function measured<T>(fn: () => Promise<T>): Promise<T> {
  const turn = measuring.then(fn);
  measuring = turn.catch(() => undefined);
  return turn;
}

/** The replayed SELECT gives no rows: writing none is all its INSERT could do, dropped or not. */
async function replaysNothing(ch: ClickHouse, statement: string): Promise<boolean> {
  try {
    return (await count(ch, replayRowsSql(statement))) === 0;
  } catch {
    return false; // cannot tell: the chunk stays unverified
  }
}

const count = async (ch: ClickHouse, sql: string, params?: Record<string, unknown>) =>
  Number((await ch.query<{ c: string | number }>(sql, { params }))[0]?.c ?? 0);

/**
 * Where the server keeps a query log, what became of an earlier attempt.
 * Only for servers (chdb has no system.query_log). Not exercised by the
 * tests here, which run on the embedded engine.
 */
async function queryLogOutcome(ch: ClickHouse, queryIds: string[]): Promise<{ finished: boolean; rows: number } | undefined> {
  try {
    await ch.exec('SYSTEM FLUSH LOGS');
    const rows = await ch.query<{ type: string; written_rows: string }>(
      `SELECT toString(type) AS type, written_rows FROM system.query_log WHERE user = currentUser() AND has({ids:Array(String)}, query_id) AND type != 'QueryStart' ORDER BY event_time_microseconds DESC LIMIT 1`,
      { params: { ids: queryIds } },
    );
    if (rows[0]?.type === 'QueryFinish') return { finished: true, rows: Number(rows[0].written_rows) };
    return rows[0] ? { finished: false, rows: 0 } : undefined;
  } catch {
    return undefined;
  }
}

function failure(err: unknown): ChunkError {
  const f = err as ClickHouseFailure;
  return { code: f.code, type: f.type, message: String(f.message ?? err), origin: f.origin ?? 'network' };
}

/** A count's verdict as the attempt's outcome: a stop for an operator fails the chunk until one acts. */
function outcomeOf(v: Verdict): Concluded {
  return v.kind === 'succeeded' ? { kind: 'succeeded', rows: v.rows, recovered: v.recovered } : unknownOutcome(v.message, v.type);
}

const unknownOutcome = (message: string, type = 'UNKNOWN_OUTCOME'): Concluded => ({
  kind: 'failed',
  needsOperator: true,
  error: { type, message, origin: 'check' },
});

/**
 * The real executor. Exactly-once rests on row counts recorded before the
 * first attempt (`chunk_measured`, durable before the INSERT): after a crash
 * or failure the window holds either the count before (not applied: run
 * again), before + expected (applied: done), or something else (partial:
 * the chunk stops for the operator).
 */
export interface ExecutorOptions {
  /** The target's row count grows by exactly what an INSERT adds (no merges that fold rows). */
  exactCounts: boolean;
  /**
   * A retry that counted the window empty may go in without deduplication: counts are exact
   * and no view reads from the target (a killed attempt may already have fed a view, whose
   * own target can drop the repeat only if the retry keeps its token).
   */
  resendWithoutDeduplication: boolean;
  /** On the embedded engine, an INSERT's rows may be read off the engine's counters (Guarantees.rowsByCounters). */
  rowsByCounters: boolean;
  /**
   * The target (or a Distributed target's remote table) is Replicated on a server: before a
   * count decides, the replica answering it fetches what the others committed.
   */
  syncReplica?: boolean;
}

export function sqlExecutor(ch: ClickHouse, plan: Plan, opts: ExecutorOptions): ChunkExecutor {
  // The parts an INSERT makes are in the table its rows land in: a Distributed target's remote table.
  const target = plan.distributed
    ? { database: plan.distributed.remoteDatabase, table: plan.distributed.remoteTable }
    : parseTable(plan.target, ch.environment.database, '--target');
  const d = plan.distributed;
  const syncSql = opts.syncReplica ? syncReplicaSql(target, d?.cluster ?? null) : undefined;
  const measures: Measures = { highest: new Map() };
  // The counters tell a first attempt's rows (an earlier one may have left blocks its retry drops).
  const byCounters = ch.ownCounters && opts.rowsByCounters && !plan.distributed;
  // A count that decides a chunk's fate: on a Replicated target, from a replica made current first.
  const makeCurrent = async () => {
    if (!syncSql) return;
    try {
      await ch.exec(syncSql);
    } catch (err) {
      throw needsGrant(err as ClickHouseFailure, `making the replica current before counting (${syncSql}) needs the SYSTEM SYNC REPLICA grant`);
    }
  };
  const decidingCount = async (sql: string) => {
    await makeCurrent();
    return count(ch, sql);
  };
  return {
    async run(a, io) {
      const chunk = plan.chunk(a.chunk);
      // The core cut this chunk again from the plan's window; run only the SQL of that very chunk.
      if (chunk.id !== a.chunkId) {
        return {
          kind: 'failed',
          needsOperator: true,
          error: { type: 'PLAN_MISMATCH', message: `chunk ${a.chunk + 1} of plan ${plan.planId} is ${chunk.id} in the file, not ${a.chunkId}: make the plan again`, origin: 'check' },
        };
      }
      const statements = chunkStatements(chunk, plan.target);
      try {
        if (a.previousQueryIds?.length) {
          // A client crash or a lost connection does not stop a server query: make sure it is
          // over before counting, or a late commit could land after the count. (Killing only
          // what still runs: a user without the KILL QUERY grant recovers when nothing does.)
          for (const q of a.previousQueryIds) if (await ch.running(q)) await ch.kill(q);
          if (a.uncertain && !ch.embedded && statements.length === 1) {
            const o = await queryLogOutcome(ch, a.previousQueryIds);
            if (o?.finished) return { kind: 'succeeded', rows: o.rows, recovered: true };
          }
        }
        let baseline = a.verify;
        // Counted and found at its baseline: none of the chunk's rows are in the window.
        let verifiedEmpty = false;
        if (a.verify && a.countTargetSql && (a.uncertain || a.attempt > 1)) {
          const v = judgeRecount(a.chunkId, await decidingCount(a.countTargetSql), a.verify);
          if (v) return outcomeOf(v);
          verifiedEmpty = true;
        } else if (
          a.uncertain &&
          a.verify === undefined &&
          !a.countTargetSql &&
          a.statementsDone < statements.length &&
          // A single mv_replay statement is sent again with its token (docs/exactly-once.md).
          (statements.length > 1 || plan.strategy !== 'mv_replay')
        ) {
          return unknownOutcome(
            `chunk ${a.chunkId}: an attempt was interrupted in statement ${a.statementsDone + 1} of ${statements.length} ` +
              `(${statements[a.statementsDone].label}) and its rows cannot be counted per window; the statements before it completed. ` +
              `Check the targets over ${chunk.from} → ${chunk.to}: remove what ${statements[a.statementsDone].label} wrote there, if anything, ` +
              `then resume with --replay-failed: it continues at statement ${a.statementsDone + 1}`,
          );
        }
        if (a.measured) {
          // Counted with the others at run start (windows_measured), durable since.
          if (a.measured.e === 0) return { kind: 'skipped', reason: 'no rows in the window' };
          baseline = a.measured;
        } else if (a.verify === undefined && a.countTargetSql) {
          // The first count also takes the window's checksum, for `verify` to compare with later.
          const m = a.measureTargetSql
            ? (await ch.query<{ __chkit_c: string | number; __chkit_h1: string; __chkit_h2: string }>(a.measureTargetSql))[0]
            : { __chkit_c: await count(ch, a.countTargetSql) };
          const before = Number(m?.__chkit_c ?? 0);
          const checksum = m && '__chkit_h1' in m ? `${m.__chkit_h1 || 0}:${m.__chkit_h2 || 0}` : undefined;
          const expected = a.countExpectedSql === a.countTargetSql ? before : await count(ch, a.countExpectedSql!);
          if (expected === 0) return { kind: 'skipped', reason: 'no rows in the window' };
          io.record({ event: 'chunk_measured', chunk: a.chunk, before, expected, checksum });
          baseline = { b: before, e: expected };
        }
        // A killed INSERT can leave its token in a non-replicated MergeTree's deduplication log
        // without its rows: resent with that token, the retry would be dropped. Where the
        // count shows none of the chunk's rows, the count is the guard.
        const token = statements.length === 1 ? statements[0].idempotencyToken : null;
        const retrySql = verifiedEmpty && opts.resendWithoutDeduplication && token ? sqlWithoutDeduplication(statements[0].sql, token) : null;
        if (retrySql) {
          io.record({ event: 'note', message: `chunk ${a.chunkId}: the window holds none of its rows; sent again without deduplication on its token` });
        }
        io.durable();
        let rows = 0;
        let spent = 0;
        const statementMs = () => Math.round(spent * 100) / 100;
        // The same for every statement of the attempt (an insert the counters cannot tell ends it).
        const by = rowsBy({
          embedded: ch.embedded,
          windowCounted: !!a.countTargetSql,
          counters: byCounters && !measures.countersOff,
          singleStatement: statements.length === 1,
          firstAttempt: a.attempt === 1 && !a.uncertain,
          resent: !!retrySql,
        });
        for (let k = a.statementsDone; k < statements.length; k++) {
          if (io.signal.aborted) return { kind: 'interrupted' };
          const sql = retrySql ?? statements[k].sql;
          const timed = async <T>(send: (o: { queryId: string; signal: AbortSignal }) => Promise<T>) => {
            io.beforeStatement();
            const t0 = performance.now();
            try {
              return await send({ queryId: a.queryIds[k - a.statementsDone], signal: io.signal });
            } finally {
              spent += performance.now() - t0;
            }
          };
          const exec = () => timed((o) => ch.exec(sql, o));
          let r: { writtenRows?: number };
          if (by === 'reply' || by === 'window_count') r = await exec();
          else if (by === 'counters') {
            const c = await countedRows(ch, target, measures, (readSql) => timed((o) => ch.execThenQuery<CounterRow>(sql, readSql, o)));
            if (c.kind === 'unknown') {
              measures.countersOff ||= c.views;
              io.record({
                event: 'note',
                message: `chunk ${a.chunkId}: its INSERT returned, but what it wrote cannot be told: ${c.reason}; compare the target with the view over ${chunk.from} → ${chunk.to}`,
              });
              return { kind: 'succeeded', rows: 0, unverified: true, statementMs: statementMs() };
            }
            r = { writtenRows: c.rows };
          }
          // The embedded engine reports no written rows, and its counters cannot tell: count the parts the insert made.
          else r = await insertedRows(ch, target, measures, exec);
          if (statements.length > 1) {
            io.record({ event: 'statement_succeeded', chunk: a.chunk, statement: k, rows: r.writtenRows ?? 0 });
            io.durable();
          } else rows = r.writtenRows ?? 0;
        }
        if (a.countTargetSql && baseline) {
          // Counted later with the windows of the chunks inserted after it, in one query.
          return { kind: 'inserted', baseline, statementMs: statementMs() };
        } else if (a.uncertain && statements.length === 1 && ch.embedded && rows === 0 && !(await replaysNothing(ch, statements[0].sql))) {
          // No window count to decide by (mv_replay): say what cannot be told apart.
          io.record({
            event: 'note',
            message:
              `chunk ${a.chunkId}: its retry after an interrupted attempt wrote no rows: the target dropped it as a duplicate, either of ` +
              `rows that attempt committed or of a deduplication record it left without them (a non-replicated MergeTree can); ` +
              `compare the target with the view over ${chunk.from} → ${chunk.to}`,
          });
          return { kind: 'succeeded', rows: 0, unverified: true, statementMs: statementMs() };
        }
        return { kind: 'succeeded', rows: statements.length > 1 ? 0 : rows, statementMs: statementMs() };
      } catch (err) {
        if (io.signal.aborted) return { kind: 'interrupted' };
        return { kind: 'failed', error: failure(err) };
      }
    },
    async check(batch, sql) {
      try {
        await makeCurrent();
        const rows = await ch.query<{ __chkit_chunk: string | number; c: string | number }>(sql);
        const seen = new Map(rows.map((r) => [Number(r.__chkit_chunk), Number(r.c)]));
        return batch.map((b) => outcomeOf(judgeInserted(b.action.chunkId, seen.get(b.action.chunk) ?? 0, b.baseline, opts.exactCounts)));
      } catch (err) {
        // Unchecked: each fails as its own count would have, and its retry counts again.
        return batch.map((): Concluded => ({ kind: 'failed', error: failure(err) }));
      }
    },
    async kill(a) {
      for (const q of a.queryIds) await ch.kill(q);
    },
  };
}
