// Run (or resume) a plan: checks that need no server first (plan, environment,
// locks, compatibility), then the connection, then the driver. A refused run
// never opens the database another run may hold.
import os from 'node:os';
import { chunkStatements, compatibilityToken, engineMergesRows, envFingerprint, parseTable, targetGuarantees, type ResolvedOptions, type RunEvent, type RunMachine } from '../core/core.js';
import type { Plan } from '../engine/plan_file.js';
import { deduplicates, replicated, targetTable, type TargetTable } from '../server/schema_info.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { fsError, runtimeError, usageError } from '../core/errors.js';
import { acquirePlanLock, describeHolder, embeddedEngineHolder, liveLocks, overlappingRun, type Acquired } from '../engine/lock.js';
import { drive, sqlExecutor } from '../engine/driver.js';
import { measureWindows, timeColumnOnGrid } from '../engine/baselines.js';
import { loadRun } from '../engine/runs.js';
import { cancelPath, detachEventLog, eventPath, EventLog, readPlan, removeIfExists, runPath } from '../engine/store.js';
import { checkBoundTypes, verifyPlan } from '../engine/plan_check.js';
import type { ChunkStatus } from '../core/core.js';
import { operation } from './errors.js';
import { runPayload, type RunPayload } from './payload.js';
import type { PlanInput } from './plan.js';
import type { BackfillConfig, Session } from './session.js';

export type RunMode = 'run' | 'resume';

/** Options that change the rows a run writes: a change since the checkpoint needs --force-compatibility. */
export function dataOptions(options: ResolvedOptions): Record<string, unknown> {
  const d = options.defaults;
  return { requireIdempotencyToken: d.requireIdempotencyToken, timeColumn: d.timeColumn ?? null };
}

async function resolvePlan(cx: Session, req: RunRequest, mode: RunMode): Promise<{ plan: Plan; implicit: boolean }> {
  const planId = req.planId;
  if (mode === 'resume' || !req.plan) {
    if (!planId) throw usageError('missing_plan_id', `missing --plan-id <id> (see \`${cx.programName} plan\`)`);
    return { plan: readPlan(cx.paths, planId), implicit: false };
  }
  const given = req.planFlags ?? ['a plan'];
  if (planId) throw usageError('invalid_flag', `give --plan-id or the plan flags (${given.join(', ')}), not both`);
  if (cx.options.policy.requireDryRunBeforeRun) {
    throw usageError(
      'dry_run_required',
      `policy.requireDryRunBeforeRun is true: make the plan first with \`${cx.programName} plan ${given.join(' ')} ...\` and run it with --plan-id (got ${given.join(', ')})`,
    );
  }
  // Planning may read columns from the server: not while a run holds the embedded engine.
  const env = cx.environment();
  const holder = env && env.origin.startsWith('chdb:') ? liveLocks(cx.paths).find((l) => l.environment === env.origin) : undefined;
  if (holder) throw usageError('engine_busy', `the embedded engine ${env!.origin} is in use by the run of plan ${holder.planId} (${describeHolder(holder)})`);
  // Loaded only for an implicit plan: running a plan file needs none of planning's modules.
  const { makePlan } = await import('./plan.js');
  const { plan } = await makePlan(cx, { ...req.plan, dryRun: req.dryRun });
  return { plan, implicit: true };
}

/** The target's engine as the server reports it; undefined when that cannot be learned. */
async function targetEngine(ch: ClickHouse, plan: Plan): Promise<TargetTable | undefined> {
  const t = parseTable(plan.target, ch.environment.database, '--target');
  try {
    const own = await targetTable(ch, t.database, t.table);
    const d = plan.distributed;
    if (!own || !d) return own;
    // Rows land in the remote table on each shard: its engine decides what a count and a token
    // are worth there. Views reading from either table see the backfilled rows.
    const remote = await targetTable(ch, d.remoteDatabase, d.remoteTable);
    if (!remote) return { ...own, engine: d.remoteEngine ?? own.engine };
    return { ...remote, dependentViews: [...own.dependentViews, ...remote.dependentViews] };
  } catch {
    return undefined;
  }
}

/** Which guarantees hold for this target, said plainly rather than promised. */
function exactlyOnceNotes(plan: Plan, info: TargetTable | undefined, replayDone: boolean): string[] {
  const notes: string[] = [];
  // Unknown: say nothing about tokens rather than guess.
  if (!info) return notes;
  // Every chunk of a plan has the same statements and token policy: the first one tells.
  const first = plan.chunkCount > 0 ? plan.chunk(0) : undefined;
  const multi = (first?.statements?.length ?? 1) > 1;
  const dedup = deduplicates(info);
  const tokens = !!first?.idempotencyToken;
  if (tokens && !dedup) {
    notes.push(`${plan.target} does not deduplicate inserts (no non_replicated_deduplication_window, not Replicated): idempotency tokens have no effect there`);
  }
  if (plan.strategy === 'table') {
    notes.push('table strategy: a retry reads rows an earlier attempt wrote, so tokens cannot make it exactly-once; the window row count recorded before the first attempt decides after a crash (equal: re-run, doubled: done, other: stop for the operator)');
  } else if (plan.strategy === 'copy') {
    notes.push('after a crash or failure the window row count in the target decides (before: re-run, before + source rows: done, other: stop for the operator)');
  } else if (!multi) {
    notes.push(
      dedup
        ? 'after a crash the chunk is sent again with the same token, and the target drops what it already has' +
            (replicated(info)
              ? ''
              : '; but a killed INSERT can leave its token in a non-replicated MergeTree\'s deduplication log without its rows, and then the retry is dropped too: a retry after a crash that writes no rows is marked unverified (status --chunks, doctor)')
        : 'after a crash the chunk is sent again: without deduplication on the target its rows may then be there twice',
    );
  }
  if (multi) notes.push('chunks with several statements cannot be counted per window: an interrupted statement stops its chunk for the operator');
  const d = plan.distributed;
  if (d) {
    notes.push(
      `${plan.target} is Distributed: rows land in ${d.remoteDatabase}.${d.remoteTable} on ${d.shards} shard(s) of cluster ${d.cluster}; every INSERT waits until they are there (distributed_foreground_insert = 1)` +
        (plan.strategy === 'mv_replay'
          ? ', and a retry is dropped as a duplicate only by shards whose table deduplicates, for rows the sharding key sends to the same shard again'
          : ', and the window counts read every shard'),
    );
  }
  if (replayDone && tokens && dedup) notes.push('--replay-done re-sends the same tokens: while they are inside the deduplication window the target drops the replayed rows');
  if (plan.strategy !== 'mv_replay') {
    notes.push('the row-count check assumes nothing else writes to the backfilled window of the target during the run');
    if (dedup && info.dependentViews.length > 0) {
      notes.push(
        `views read from ${plan.target} (${info.dependentViews.join(', ')}): a retry after a killed INSERT keeps its token, so that their targets can drop ` +
          'what the killed attempt fed them; if the target drops that retry too (a token left behind without rows), the chunk stops for the operator',
      );
    }
    if (engineMergesRows(info.engine)) {
      notes.push(`${plan.target} (${info.engine}) merges rows, so a window's row count can shrink by itself: the rows a chunk adds are not checked against what it should add, and after a crash an applied chunk may stop for the operator`);
    }
  }
  return notes;
}

export interface RunRequest {
  /** `resume` continues a checkpoint (retrying failed chunks); `run` may also plan implicitly. Default `run`. */
  mode?: RunMode;
  planId?: string;
  /** `run` without a plan id: plan first (refused under policy.requireDryRunBeforeRun). */
  plan?: PlanInput;
  /** The flags that gave `plan`, for messages (`--target`, …). */
  planFlags?: string[];
  /** Execute chunks that are already done again. */
  replayDone?: boolean;
  /** Execute failed chunks again, including those that need an operator. */
  replayFailed?: boolean;
  /** Run even though another live run writes to the same target (same environment). */
  forceOverlap?: boolean;
  /** Continue although the plan file or the data options changed since the checkpoint. */
  forceCompatibility?: boolean;
  /** Run a plan made for another ClickHouse environment. */
  forceEnvironment?: boolean;
  /** Report the statements that would execute; execute and write nothing. */
  dryRun?: boolean;
}

/** What a run has done so far, about four times a second. */
export interface RunProgress {
  total: number;
  /** Done and skipped chunks. */
  done: number;
  failed: number;
  rowsWritten: number;
  /** Chunk numbers in flight, as `status --chunks` shows them (`#3`). */
  inFlight: string[];
  startedAtMs: number;
  nowMs: number;
  doneAtStart: number;
  rowsAtStart: number;
  /** A plan sized by rows or bytes: expected rows of all, done, failed and done-at-start chunks (weights for the bar and ETA). */
  expected?: { total: number; done: number; failed: number; doneAtStart: number };
  /** Rows read and written so far by the statements in flight (system.processes, every few seconds), when known. */
  inFlightRows?: { read: number; written: number };
}

export interface RunHooks {
  onProgress?: (p: RunProgress) => void;
  /** Aborted: finish the chunks in flight and pause, like a first Ctrl-C (`resume` continues). */
  signal?: AbortSignal;
  /** Listen to SIGINT/SIGTERM (the commands do; a library caller decides). */
  processSignals?: boolean;
}

export interface RunResult extends RunPayload {
  command: 'run' | 'resume';
  /** What holds for this target, said plainly (exactly-once conditions, takeovers). */
  notes?: string[];
  implicitPlan?: boolean;
  /** Already completed: nothing executed. */
  noop?: true;
  dryRun?: true;
  /** With dryRun: each chunk that would execute, with its statements. */
  chunks?: { index: number; id: string; from: string; to: string; status: ChunkStatus; sql: string[] }[];
}

/**
 * Execute the pending chunks of a plan. Resolves with the run's outcome (`ok` only when
 * completed); throws a BackfillError when it is refused or cannot go on (exit 2 / exit 1).
 */
export function runBackfill(config: BackfillConfig | Session, req: RunRequest, hooks: RunHooks = {}): Promise<RunResult> {
  return operation(config, (s) => executeRun(s, req, hooks));
}

async function executeRun(cx: Session, req: RunRequest, hooks: RunHooks): Promise<RunResult> {
  const mode: RunMode = req.mode ?? 'run';
  const command = mode;
  const replayDone = !!req.replayDone;
  const replayFailed = !!req.replayFailed;
  const forced = (
    [
      ['--force-overlap', req.forceOverlap],
      ['--force-compatibility', req.forceCompatibility],
      ['--force-environment', req.forceEnvironment],
    ] as const
  )
    .filter(([, on]) => on)
    .map(([f]) => f);

  // Every chunk line is checked against the plan's header before anything executes (or is shown as what would).
  const checked = (plan: Plan) => (verifyPlan(plan, cx.defaultDatabase), plan);
  if (req.dryRun) return dryRun(cx, mode, checked((await resolvePlan(cx, req, mode)).plan), replayDone, replayFailed);

  // No connection configured: exit 2 before anything is read or written.
  const env = cx.environment();
  if (!env) await cx.connect(command);
  const { plan, implicit } = await resolvePlan(cx, req, mode);

  const configured = envFingerprint(env!.origin, env!.database);
  if (plan.environment && plan.environment.fingerprint !== configured && !req.forceEnvironment) {
    throw usageError(
      'environment_mismatch',
      `plan ${plan.planId} was made for ${plan.environment.url} (database ${plan.environment.database}), ` +
        `but the configured environment is ${env!.origin} (database ${env!.database}); pass --force-environment to run it here`,
    );
  }
  checked(plan);

  let acquired: Acquired | undefined = acquirePlanLock(cx.paths, plan.planId, plan.target, env!.origin);
  const { lock } = acquired;
  let run: ReturnType<typeof loadRun> | undefined;
  let ch: ClickHouse | undefined;
  let log: EventLog | undefined;
  try {
    // The overlap first: on the embedded engine it would also be refused below, less plainly.
    if (cx.options.policy.blockOverlappingRuns && !req.forceOverlap) {
      const other = overlappingRun(cx.paths, lock.info);
      if (other) {
        throw usageError(
          'overlapping_run',
          `another run writes to ${plan.target}: plan ${other.planId}, ${describeHolder(other)} (policy.blockOverlappingRuns; --force-overlap to run anyway)`,
        );
      }
    }
    if (env!.origin.startsWith('chdb:')) {
      const other = embeddedEngineHolder(cx.paths, env!.origin, plan.planId);
      if (other) throw usageError('engine_busy', `the embedded engine ${env!.origin} is in use by the run of plan ${other.planId} (${describeHolder(other)})`);
    }

    // A previous holder that lost the lock keeps writing to the old file, never to the one read here.
    detachEventLog(eventPath(cx.paths, plan.planId));
    run = loadRun(cx, plan);
    const s = run.summary;
    const notes: string[] = [];
    if (s.status === 'completed' && !replayDone && !replayFailed) {
      return runPayload(command, cx.paths, plan, s, { noop: true as const });
    }
    if (s.status === 'cancelled' && mode === 'run') {
      throw usageError('run_cancelled', `the run of plan ${plan.planId} was cancelled; \`${cx.programName} resume --plan-id ${plan.planId}\` continues it`);
    }
    if (s.status === 'cancelled') notes.push('resuming a cancelled run (operator decision)');
    const token = compatibilityToken(plan.sha256, dataOptions(cx.options));
    if (s.compatibility && s.compatibility !== token && !req.forceCompatibility) {
      throw usageError(
        'incompatible_checkpoint',
        `the plan file or the data options (requireIdempotencyToken, timeColumn) changed since the checkpoint of plan ${plan.planId}; ` +
          `re-plan, or pass --force-compatibility to continue with the current ones`,
      );
    }

    // Everything that can refuse has passed: now the server.
    const d = cx.options.defaults;
    ch = await cx.connect(command, { parallel: d.maxParallelChunks });
    await checkBoundTypes(ch, plan);
    log = new EventLog(eventPath(cx.paths, plan.planId), run.machine.report.logBytes);
    const machine = run.machine;
    machine.beginWriter();
    // Fenced like the driver's: no line once the lock is no longer ours.
    const record = (e: RunEvent) => {
      lock.verify();
      log!.append(machine.apply(e));
    };
    if (acquired.takenOver) {
      const p = acquired.takenOver.previous;
      record({ event: 'lock_taken_over', previousPid: p.pid, previousHost: p.host, reason: acquired.takenOver.reason });
      notes.push(`took over the lock of ${describeHolder(p)}: ${acquired.takenOver.reason}`);
    }
    if (run.machine.report.tornTail) record({ event: 'note', message: 'the last event line was torn (crash mid-write) and was dropped' });
    if (run.machine.report.snapshotRebuilt) record({ event: 'note', message: 'the run snapshot was unreadable and was rebuilt from the event log' });
    if (run.machine.report.fencedLines) {
      record({ event: 'note', message: `${run.machine.report.fencedLines} event line(s) of a run that had lost the lock were ignored` });
    }
    const target = await targetEngine(ch, plan);
    notes.push(...exactlyOnceNotes(plan, target, replayDone));
    // A window gains exactly what a chunk inserts only where merges do not fold rows.
    // What counts and tokens are worth at this target: the core decides from its engine.
    const guarantees = target ? targetGuarantees({ engine: target.engine, dependentViews: target.dependentViews }) : undefined;
    const exactCounts = guarantees?.exactCounts ?? false;
    removeIfExists(cancelPath(cx.paths, plan.planId));
    record({
      event: 'run_started',
      mode,
      compatibility: token,
      pid: process.pid,
      host: os.hostname(),
      replayDone,
      replayFailed,
      settings: { maxParallelChunks: d.maxParallelChunks, maxRetriesPerChunk: d.maxRetriesPerChunk, retryDelayMs: d.retryDelayMs },
      forced,
    });
    for (const n of notes) record({ event: 'note', message: n });
    // Merges that fold rows make a count taken early drift: those count per chunk, just before.
    if (exactCounts) await measureWindows(ch, plan, machine, record);
    log.sync();
    // A target that cannot be read yet counts each window apart (its chunks fail with the cause).
    const countsOnGrid = plan.strategy !== 'mv_replay' && (await timeColumnOnGrid(ch, plan).catch(() => false));

    const atStart = machine.summary();
    const startedAtMs = Date.now();
    const weigh = plan.volume && hooks.onProgress ? expectedWeights(plan.volume.expectedRows, machine) : undefined;
    const stopped = (err: unknown): never => {
      const io = fsError(err);
      if (!io) throw err;
      // The log and snapshot hold everything up to the failed write: resume checks what was in flight.
      throw runtimeError(io.code, `${io.message}; the run stopped: fix that, then \`${cx.programName} resume --plan-id ${plan.planId}\` continues it`, io);
    };
    // A long chunk is not a frozen bar: every few seconds, what its statements have read and
    // written so far, from system.processes (the display only; nothing decides on it).
    let inFlightRows: { read: number; written: number } | undefined;
    let polling = false;
    let lastPoll = 0;
    const pollInFlight = (queryIds: string[]) => {
      if (polling || queryIds.length === 0 || Date.now() - lastPoll < 3000) return;
      polling = true;
      lastPoll = Date.now();
      ch!
        .progress(queryIds)
        .then((p) => (inFlightRows = { read: p.readRows, written: p.writtenRows }))
        .catch(() => (inFlightRows = undefined))
        .finally(() => (polling = false));
    };
    const status = await drive({
      machine,
      log,
      executor: sqlExecutor(ch, plan, {
        exactCounts,
        resendWithoutDeduplication: guarantees?.resendWithoutDeduplication ?? false,
        rowsByCounters: guarantees?.rowsByCounters ?? false,
        syncReplica: (guarantees?.replicated ?? false) && !ch.embedded,
      }),
      countsOnGrid,
      snapshotFile: runPath(cx.paths, plan.planId),
      cancelFile: cancelPath(cx.paths, plan.planId),
      lock,
      signals: !!hooks.processSignals,
      abort: hooks.signal,
      onTick: !hooks.onProgress ? undefined : (inFlight, queryIds) => {
        pollInFlight(queryIds);
        const s = machine.summary();
        hooks.onProgress!({
          total: s.chunkCounts.total,
          done: s.chunkCounts.done + s.chunkCounts.skipped,
          failed: s.chunkCounts.failed,
          rowsWritten: s.rowsWritten,
          // Chunk numbers as `status --chunks` shows them.
          inFlight: inFlight.map((i) => `#${i + 1}`),
          startedAtMs,
          nowMs: Date.now(),
          doneAtStart: atStart.chunkCounts.done + atStart.chunkCounts.skipped,
          rowsAtStart: atStart.rowsWritten,
          ...(weigh ? { expected: weigh() } : {}),
          ...(inFlight.length && inFlightRows ? { inFlightRows } : {}),
        });
      },
    }).catch(stopped);
    const summary = machine.summary();
    return {
      ...runPayload(command, cx.paths, plan, summary, { notes, implicitPlan: implicit }),
      ok: status === 'completed',
      ...(status === 'completed' ? {} : { error: summary.lastError?.message ?? `run ${status}` }),
    };
  } finally {
    // Each step on its own: a state directory that refuses writes must not keep the lock held.
    const quietly = (f: () => unknown) => {
      try {
        f();
      } catch {
        // The failure that matters is already propagating, or the run's result is on disk.
      }
    };
    quietly(() => removeIfExists(cancelPath(cx.paths, plan.planId)));
    quietly(() => log?.close());
    await ch?.close().catch(() => undefined);
    quietly(() => run?.machine.close());
    lock.release();
    acquired = undefined;
  }
}

/** `--dry-run`: the statements this run would execute, from the state files alone. */
function dryRun(cx: Session, mode: RunMode, plan: Plan, replayDone: boolean, replayFailed: boolean): RunResult {
  const { summary, machine } = loadRun(cx, plan);
  try {
    const picked = machine.wouldExecute(mode, replayDone, replayFailed).map((i) => {
      const c = plan.chunk(i);
      return { index: i + 1, id: c.id, from: c.from, to: c.to, status: machine.chunk(i).s, sql: chunkStatements(c, plan.target).map((st) => st.sql) };
    });
    return { ...runPayload(mode, cx.paths, plan, summary, { dryRun: true as const }), chunks: picked };
  } finally {
    machine.close();
  }
}

/**
 * Expected rows of the chunks done (or skipped) and failed so far, for a plan sized by
 * rows or bytes. Chunks found done stay done, so each tick looks only at the others.
 */
function expectedWeights(expected: number[], machine: RunMachine) {
  const total = expected.reduce((a, b) => a + b, 0);
  const settled = new Set<number>();
  let done = 0;
  const scan = () => {
    let failed = 0;
    for (let i = 0; i < expected.length; i++) {
      if (settled.has(i)) continue;
      const st = machine.chunk(i).s;
      if (st === 'done' || st === 'skipped') {
        settled.add(i);
        done += expected[i];
      } else if (st === 'failed') failed += expected[i];
    }
    return failed;
  };
  scan();
  const doneAtStart = done;
  return () => {
    const failed = scan();
    return { total, done, failed, doneAtStart };
  };
}
