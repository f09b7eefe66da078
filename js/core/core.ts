// Typed access to the Rust core (pkg/, built by scripts/setup.sh). Every core
// call returns a JSON envelope; errors become BackfillError with the core's
// kind mapped to an exit code.
import { createRequire } from 'node:module';
import { BackfillError } from './errors.js';

type Envelope<T> = { ok: true; value: T } | { ok: false; error: { kind: 'usage' | 'runtime'; code: string; message: string } };

const require = createRequire(import.meta.url);
// Raw bindings: each takes and returns JSON text.
export const wasm: Record<string, (...args: string[]) => string> = require('../../pkg/chkit_backfill_core.js');

export function callCore<T>(fn: string, ...args: unknown[]): T {
  const out = JSON.parse(rawCall(fn, args)) as Envelope<T>;
  if (out.ok) return out.value;
  throw coreError(out);
}

function rawCall(fn: string, args: unknown[]): string {
  const f = wasm[fn];
  if (typeof f !== 'function') throw new Error(`core has no export ${fn}`);
  // Bytes go as they are (a plan's chunk lines: megabytes not decoded only to be encoded again).
  return (f as (...a: unknown[]) => string)(...args.map((a) => (typeof a === 'string' || a instanceof Uint8Array ? a : JSON.stringify(a ?? null))));
}

const coreError = (out: Extract<Envelope<unknown>, { ok: false }>) =>
  new BackfillError(out.error.kind === 'usage' ? 2 : 1, out.error.code, out.error.message);

const OK_PREFIX = '{"ok":true,"value":';

/** The value's JSON text as the core wrote it, unparsed (plans, snapshots, event lines go to disk as is). */
function callCoreJson(fn: string, ...args: unknown[]): string {
  const raw = rawCall(fn, args);
  if (raw.startsWith(OK_PREFIX)) return raw.slice(OK_PREFIX.length, -1);
  throw coreError(JSON.parse(raw));
}

export interface ResolvedOptions {
  stateDir?: string;
  defaults: {
    chunkHours: number;
    maxParallelChunks: number;
    maxRetriesPerChunk: number;
    retryDelayMs: number;
    requireIdempotencyToken: boolean;
    timeColumn?: string;
    /** Chunks of about this many rows (instead of chunkHours). */
    chunkRows?: number;
    /** Chunks of about this many uncompressed bytes (instead of chunkHours). */
    chunkBytes?: number;
  };
  policy: {
    requireDryRunBeforeRun: boolean;
    requireExplicitWindow: boolean;
    blockOverlappingRuns: boolean;
    failCheckOnRequiredPendingBackfill: boolean;
  };
  limits: { maxWindowHours: number; minChunkMinutes: number; maxChunkHours: number };
  insertSettings?: Record<string, string | number | boolean>;
}

/** What a plan sized by rows or bytes records (src/volume.rs VolumeHeader). */
export interface VolumeHeader {
  sizing: { rows: number } | { bytes: number };
  gridMinutes: number;
  maxChunkHours: number;
  /** Where each chunk but the last ends. */
  boundaries: string[];
  expectedRows: number[];
  expectedBytes?: number[];
}

/** One INSERT of a chunk. A chunk has several when several views replay into one target. */
export interface PlanStatement {
  /** What this statement replays (a view name), for messages and events. */
  label: string;
  idempotencyToken: string | null;
  sql: string;
}

export interface PlanChunk {
  id: string;
  from: string;
  to: string;
  status: 'pending';
  attempts: number;
  idempotencyToken: string | null;
  sqlTemplate: string;
  /** When present (mv_replay plans), every statement of the chunk in order; sqlTemplate/idempotencyToken are the first one's. */
  statements?: PlanStatement[];
}

/** The statements a chunk executes, in order. */
export function chunkStatements(chunk: PlanChunk, target: string): PlanStatement[] {
  return chunk.statements ?? [{ label: target, idempotencyToken: chunk.idempotencyToken, sql: chunk.sqlTemplate }];
}

export interface PlanState {
  planId: string;
  target: string;
  createdAt: string;
  status: 'planned';
  strategy: string;
  source?: string;
  environment?: { fingerprint: string; url: string; database: string };
  from: string;
  to: string;
  /** Absent when `volume` sizes the chunks. */
  chunkHours?: number;
  volume?: VolumeHeader;
  timeColumn: string;
  /** How the window's bounds are written against the time column (absent: DateTime64; src/window.rs). */
  boundType?: BoundType;
  columns?: string[];
  /** mv_replay: the views replayed, each with its source and the source's time column. */
  views?: PlanView[];
  chunks: PlanChunk[];
  options: ResolvedOptions['defaults'];
  policy: ResolvedOptions['policy'];
  limits: ResolvedOptions['limits'];
  /** The user's settings on every chunk INSERT. */
  insertSettings?: Record<string, string | number | boolean>;
  /** The target is a Distributed table. */
  distributed?: DistributedTarget;
}

export interface DistributedTarget {
  cluster: string;
  remoteDatabase: string;
  remoteTable: string;
  shardingKey?: string;
  shards: number;
  remoteEngine?: string;
}

export const resolveOptions = (raw: unknown): ResolvedOptions => callCore('resolveOptions', raw);
/** Fields of an existing plan file that differ from a fresh plan's (both as file text). */
export const planDifferences = (existingJson: string, freshJson: string): string[] =>
  callCore('planDifferences', existingJson, freshJson);

export interface TableRef {
  database: string;
  table: string;
}
export const parseTable = (input: string, defaultDb: string, flag: string): TableRef =>
  callCore('parseTable', input, defaultDb, flag);
/** The plan file's content as the core lays it out (src/plan_file.rs): written as is, read with planFromBytes. */
export function buildPlanFile(request: Record<string, unknown>): Uint8Array {
  // Not parsed here: a plan can be tens of megabytes and is read back chunk by chunk.
  const raw = Buffer.from(rawCall('buildPlan', [request]) as unknown as Uint8Array);
  if (raw.subarray(0, OK_PREFIX.length).toString('latin1') === OK_PREFIX) return raw.subarray(OK_PREFIX.length, raw.length - 1);
  throw coreError(JSON.parse(raw.toString('utf8')));
}

export interface VolumeQueries {
  gridMs: number;
  cells: number;
  queries: { table: string; counts: string; size: string | null }[];
}
/** The distribution queries a plan sized by rows or bytes needs answered (null: sized by hours). */
export const volumeQueries = (request: Record<string, unknown>): VolumeQueries | null => callCore('volumeQueries', request);

export interface Spread {
  min: number;
  median: number;
  max: number;
  total: number;
}
export interface VolumeReport {
  sizing: { rows: number } | { bytes: number };
  gridMinutes: number;
  expectedRows: Spread;
  expectedBytes?: Spread;
  oversized: { chunk: number; from: string; to: string; rows: number; bytes?: number }[];
  histogram: string[];
  warnings: string[];
}
/** Spread, histogram and warnings of a plan sized by rows or bytes (null: sized by hours). */
export const volumeReport = (request: Record<string, unknown>): VolumeReport | null => callCore('volumeReport', request);

/** What the core decided before cutting chunks: strategy, views, time columns. */
export interface PlanPreview {
  strategy: 'table' | 'copy' | 'mv_replay';
  timeColumns: {
    table: string;
    column: string | null;
    origin: 'flag' | 'schema' | 'defaults' | 'detected' | null;
    candidates: { name: string; type: string; inOrderBy: boolean }[];
  }[];
  views: { name: string; source: string; queryFrom: 'server' | 'schema' }[];
  warnings: string[];
  dataRangeQueries: string[];
}

/** The type a window's bounds are written in: `DateTime` only against `DateTime` columns. */
export type BoundType = 'DateTime64' | 'DateTime';

export interface PlanView {
  name: string;
  source: string;
  timeColumn: string;
  boundType?: BoundType;
  columns: string[];
  queryFrom: 'server' | 'schema';
}

export const checkPlanInput = (request: Record<string, unknown>): void => {
  callCore('checkPlanInput', request);
};
export const planPreview = (request: Record<string, unknown>): PlanPreview => callCore('planPreview', request);
export const viewSource = (view: string, query: string, defaultDb: string): TableRef =>
  callCore('viewSource', view, query, defaultDb);

/** `sql` with its token's deduplication off, or null when it is not a statement the core wrote with that token (src/sql.rs). */
export const sqlWithoutDeduplication = (sql: string, token: string): string | null => callCore('sqlWithoutDeduplication', sql, token);
/** Whether a table engine's merges collapse or aggregate rows (src/doctor.rs). */
export const engineMergesRows = (engine: string): boolean => callCore('engineMergesRows', engine);
export const envFingerprint = (origin: string, database: string): string => callCore('envFingerprint', origin, database);
/** `text` without these user names and passwords (src/redact.rs). */
export const redactCredentials = (text: string, credentials: { users: string[]; passwords: string[] }): string =>
  callCore('redactCredentials', text, credentials);
/** `planSha256`: the plan file's digest (Plan.sha256). */
export const compatibilityToken = (planSha256: string, dataOptions: unknown): string =>
  callCore('compatibilityToken', planSha256, dataOptions);

// ---- run state machine (src/run_state.rs) ----

export type RunStatus = 'running' | 'paused' | 'cancelled' | 'completed' | 'failed';
export type ChunkStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface ChunkError {
  code?: number;
  type?: string;
  message: string;
  /** 'server' | 'network' | 'aborted' | 'check' */
  origin: string;
}

export interface ChunkCounts {
  total: number;
  pending: number;
  running: number;
  /** Of `running`: inserted, waiting for the count that checks their windows. */
  checking: number;
  done: number;
  failed: number;
  skipped: number;
}

export interface RunSettings {
  maxParallelChunks: number;
  maxRetriesPerChunk: number;
  retryDelayMs: number;
}

/** Events as the driver feeds them (`seq` is assigned by the core, `at` is ms since the epoch). */
export type RunEvent =
  | { event: 'run_started'; mode: 'run' | 'resume'; compatibility: string; pid: number; host: string; replayDone: boolean; replayFailed: boolean; settings: RunSettings; forced: string[] }
  | { event: 'lock_taken_over'; previousPid: number; previousHost: string; reason: string }
  | { event: 'chunks_intended'; chunks: number[] }
  | { event: 'chunk_inserted'; chunk: number; statementMs?: number }
  | { event: 'chunk_started'; chunk: number; chunkId: string; attempt: number; queryId: string }
  | { event: 'chunk_measured'; chunk: number; before: number; expected: number; checksum?: string }
  | { event: 'windows_measured'; chunks: number[]; before: number[]; expected: number[]; checksums?: string[] }
  | { event: 'statement_succeeded'; chunk: number; statement: number; rows: number }
  | { event: 'chunk_succeeded'; chunk: number; rows: number; recovered?: boolean; unverified?: boolean; statementMs?: number }
  | { event: 'chunk_skipped'; chunk: number; reason: string }
  | { event: 'chunk_failed'; chunk: number; error: ChunkError; needsOperator?: boolean }
  | { event: 'chunk_interrupted'; chunk: number }
  | { event: 'cancel_requested'; by: string }
  | { event: 'pause_requested'; signal: string }
  | { event: 'run_finished'; status: RunStatus }
  | { event: 'note'; message: string };

export interface Baseline {
  /** Rows of the window in the target before the first attempt. */
  b: number;
  /** Rows one execution adds. */
  e: number;
}

export type RunAction =
  | {
      action: 'start_chunk';
      chunk: number;
      chunkId: string;
      attempt: number;
      queryIds: string[];
      statementsDone: number;
      previousQueryIds?: string[];
      verify?: Baseline;
      uncertain: boolean;
      /** Log these chunks as `chunks_intended` before this attempt's first statement (write-ahead for all of them). */
      announce?: number[];
      countTargetSql?: string;
      countExpectedSql?: string;
      /** The first count of the target's window, with its checksum (`c`, `h1`, `h2`). */
      measureTargetSql?: string;
      /** Counted at this run's start (windows_measured), no attempt since: insert without counting first. */
      measured?: Baseline;
    }
  | { action: 'wait_until'; at: number }
  | { action: 'finish'; status: RunStatus };

/** One count of many `table` chunks at run start: rows `{ __chkit_chunk, __chkit_c, __chkit_h1, __chkit_h2 }` (src/run_state.rs). */
export interface BaselineGrid {
  chunks: number[];
  sql: string;
}

/** Whether a time column of this type can be counted by the chunk grid (DateTime, DateTime64). */
export const gridCountable = (columnType: string): boolean => callCore('gridCountable', columnType);

export interface RunSummary {
  status: RunStatus | null;
  seq: number;
  updatedAt: number;
  compatibility: string | null;
  sessions: number;
  attempts: number;
  rowsWritten: number;
  chunkCounts: ChunkCounts;
  lastError: ChunkError | null;
  stopping: RunStatus | null;
  needsOperator: number;
  /** Done chunks whose outcome no check could confirm (mv_replay re-sent after a crash, no rows written). */
  unverified: number;
}

export interface LoadReport {
  tornTail: boolean;
  snapshotRebuilt: boolean;
  logBytes: number;
  eventsReplayed: number;
  /** Lines skipped as those of a writer that had lost the lock (src/fence.rs). */
  fencedLines: number;
}


/** The event log, read from a byte offset (store.ts eventLogReader). */
export interface LogReader {
  size: number;
  /** Text from byte `from`: whole lines, or the rest of the log when `atEnd`. */
  read(from: number): { text: string; atEnd: boolean };
}

/** A run held inside the core between calls (a handle, not a copy). */
export class RunMachine {
  private constructor(private readonly handle: number, readonly report: LoadReport) {}

  /** Open from the snapshot (if any) and the event log, which the core reads from where the snapshot ends. */
  static open(facts: Record<string, unknown>, snapshotText: string | undefined, log: LogReader): RunMachine {
    const { handle, readFrom } = callCore<{ handle: number; readFrom: number }>('runOpen', facts, snapshotText ?? '', String(log.size));
    try {
      for (let from = readFrom; ; ) {
        const { text, atEnd } = log.read(from);
        const fed = callCore<{ next: number } | { report: LoadReport }>('runFeed', String(handle), text, String(atEnd));
        if ('report' in fed) return new RunMachine(handle, fed.report);
        from = fed.next;
      }
    } catch (err) {
      callCore('runClose', String(handle));
      throw err;
    }
  }

  /** Fold an event in; returns the NDJSON line (without newline) to append. */
  apply(event: RunEvent, at: number = Date.now()): string {
    return callCoreJson('runApply', String(this.handle), { at, ...event });
  }

  /** Become the log's next writer, after taking the plan's lock and loading: → the generation every later line carries. */
  beginWriter(): number {
    return callCore('runBeginWriter', String(this.handle));
  }

  nextActions(now: number, inFlight: number): RunAction[] {
    return callCore('runNextActions', String(this.handle), String(now), String(inFlight));
  }

  snapshot(eventOffset: number): string {
    return callCoreJson('runSnapshot', String(this.handle), String(eventOffset));
  }

  summary(): RunSummary {
    return callCore('runSummary', String(this.handle));
  }

  chunk(i: number): { s: ChunkStatus; a: number; r?: number; e?: ChunkError; op?: boolean; u?: boolean; uv?: boolean } {
    return callCore('runChunk', String(this.handle), String(i));
  }

  /** The grid count that measures every unmeasured `table` chunk at once, or null. */
  baselineGrid(): BaselineGrid | null {
    return callCore('runBaselineGrid', String(this.handle));
  }

  /**
   * One count of the windows of several inserted, unchecked chunks: rows `{ __chkit_chunk, c }`.
   * `onGrid`: the target's time column converts exactly to milliseconds (`gridCountable`), so
   * close chunks are counted by one GROUP BY over their span.
   */
  checkCountsSql(chunks: number[], onGrid: boolean): string {
    return callCore('runCheckCountsSql', String(this.handle), JSON.stringify(chunks), String(onGrid));
  }

  /** Indexes of the chunks a run started now would execute. */
  wouldExecute(mode: 'run' | 'resume', replayDone: boolean, replayFailed: boolean): number[] {
    return callCore('runWouldExecute', String(this.handle), JSON.stringify(mode), String(replayDone), String(replayFailed));
  }

  close(): void {
    callCore('runClose', String(this.handle));
  }
}

export const distributedEngine = (target: string, engineFull: string): DistributedTarget => callCore('distributedEngine', target, engineFull);
export const syncReplicaSql = (t: TableRef, cluster: string | null): string => callCore('syncReplicaSql', t, cluster);
export const partsMaxBlockSql = (t: TableRef): string => callCore('partsMaxBlockSql', t);
/** `SELECT count() AS c` of the rows an `mv_replay` statement's SELECT gives. */
export const replayRowsSql = (statement: string): string => callCore('replayRowsSql', statement);
export const partsAfterSql = (t: TableRef, before: number): string => callCore('partsAfterSql', t, before);
/** From `partsAfterSql`'s rows (numbers): the rows the INSERT wrote (`c`) and the highest block number now (`top`). */
export const partsRowsAfter = (parts: { b: number; e: number; r: number; l: number }[], before: number): { c: number; top: number } =>
  callCore('partsRowsAfter', parts, before);

/** A count's verdict that settles a chunk (src/outcome.rs). */
export type Verdict = { kind: 'succeeded'; rows: number; recovered?: boolean } | { kind: 'stop_for_operator'; type: string; message: string };
/** Before an attempt that follows one that may have written: the window holds `seen` rows; null: none of the chunk's, send it. */
export const judgeRecount = (chunkId: string, seen: number, verify: Baseline): Verdict | null => callCore('judgeRecount', chunkId, seen, verify);
/** After a chunk's INSERT returned: the window holds `seen` rows. */
export const judgeInserted = (chunkId: string, seen: number, baseline: Baseline, exactCounts: boolean): Verdict =>
  callCore('judgeInserted', chunkId, seen, baseline, exactCounts);

/** How the rows one INSERT wrote are learned (src/outcome.rs). */
export type RowsBy = 'reply' | 'window_count' | 'counters' | 'parts';
export interface InsertFacts {
  embedded: boolean;
  windowCounted: boolean;
  counters: boolean;
  singleStatement: boolean;
  firstAttempt: boolean;
  resent: boolean;
}
export const rowsBy = (facts: InsertFacts): RowsBy => callCore('rowsBy', facts);

/** The engine's insert counters, read after an INSERT (src/sql.rs, `insert_counters_sql`). */
export const insertCountersSql = (): string => callCore('insertCountersSql');
export interface InsertCounters {
  inserts: number;
  viewInserts: number;
  rows: number;
  duplicateBlocks: number;
  parts: number;
}
/** `insertCountersSql`'s rows, values as numbers. */
export const insertCounters = (rows: { event: string; value: number }[]): InsertCounters => callCore('insertCounters', rows);
/** What one INSERT wrote from the counters around it; `views`: it fed views, so measure the next ones by their parts. */
export type CountedInsert = { kind: 'rows'; rows: number } | { kind: 'unknown'; reason: string; views: boolean };
export const rowsFromCounters = (before: InsertCounters, after: InsertCounters): CountedInsert => callCore('rowsFromCounters', before, after);

export interface Guarantees {
  exactCounts: boolean;
  resendWithoutDeduplication: boolean;
  replicated: boolean;
  /** Where the engine's counters are this process's own: they can tell what an INSERT wrote. */
  rowsByCounters: boolean;
}
/** What a run may rely on at a target whose rows land in a table of `engine`. */
export const targetGuarantees = (facts: { engine: string; dependentViews: string[] }): Guarantees => callCore('targetGuarantees', facts);
