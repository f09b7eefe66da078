// One benchmark point in a fresh process (so peak RSS is this point's own):
// plan N chunks, then drive a run of them with an executor that does no
// ClickHouse work. Prints one JSON line.
import fs from 'node:fs';
import path from 'node:path';
import { buildPlanFile, chunkStatements } from '../dist/core/core.js';
import { drive } from '../dist/engine/driver.js';
import { planFromBytes } from '../dist/engine/plan_file.js';
import { openRun } from '../dist/engine/runs.js';
import { verifyPlan } from '../dist/engine/plan_check.js';
import { eventPath, EventLog, readPlan, runPath, statePaths } from '../dist/engine/store.js';

const n = Number(process.argv[2]);
const fsyncPerChunk = process.argv[3] !== 'nofsync';
// A state directory: `plan` builds the plan and writes it there; `run` reads it from there, as `run` does.
const stateDir = process.argv[4];
const phase = process.argv[5];
const chunkHours = 0.25;
const from = Date.parse('2020-01-01T00:00:00Z');
const to = new Date(from + n * chunkHours * 3_600_000).toISOString();
const paths = statePaths(stateDir);

if (phase === 'plan') {
  const t0 = performance.now();
  const bytes = buildPlanFile({
    options: { defaults: { timeColumn: 'event_time', chunkHours }, limits: { maxWindowHours: 1e9 } },
    target: 'app.events',
    from: new Date(from).toISOString(),
    to,
    forceLargeWindow: true,
    now: new Date().toISOString(),
  });
  const plan = planFromBytes(bytes, 'bench');
  const planMs = performance.now() - t0;
  fs.mkdirSync(paths.plans, { recursive: true });
  fs.writeFileSync(path.join(paths.plans, `${plan.planId}.json`), bytes);
  console.log(JSON.stringify({ chunks: n, planId: plan.planId, planMs, planBytes: bytes.length, planRssMB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const planId = process.argv[6];
fs.rmSync(paths.runs, { recursive: true, force: true });
fs.rmSync(paths.events, { recursive: true, force: true });
{
  let t0 = performance.now();
  const plan = readPlan(paths, planId);
  // As `run` does: every chunk line checked against the header before anything executes.
  verifyPlan(plan, 'default');
  const { machine } = openRun(paths, plan, 'default');
  const log = new EventLog(eventPath(paths, planId), machine.report.logBytes);
  log.append(
    machine.apply({
      event: 'run_started', mode: 'run', compatibility: 'bench', pid: process.pid, host: 'bench',
      replayDone: false, replayFailed: false, settings: { maxParallelChunks: 1, maxRetriesPerChunk: 3, retryDelayMs: 1000 }, forced: [],
    }),
  );
  const openMs = performance.now() - t0;
  // Like the real executor: the chunk's statements read from the plan, one measured event and a
  // write-ahead sync before the (absent) INSERT.
  const executor = {
    async run(a, io) {
      if (!chunkStatements(plan.chunk(a.chunk), plan.target)[0].sql.includes('INSERT INTO')) throw new Error('no SQL');
      io.record({ event: 'chunk_measured', chunk: a.chunk, before: 0, expected: 1 });
      if (fsyncPerChunk) io.durable();
      return { kind: 'succeeded', rows: 1 };
    },
    async kill() {},
  };
  t0 = performance.now();
  const status = await drive({ machine, log, executor, snapshotFile: runPath(paths, planId) });
  const runMs = performance.now() - t0;
  log.close();
  if (status !== 'completed' || machine.summary().rowsWritten !== n) throw new Error(`run ended ${status}`);
  console.log(JSON.stringify({
    chunks: n,
    fsync: fsyncPerChunk,
    openMs,
    runMs,
    perChunkMs: runMs / n,
    eventBytes: fs.statSync(eventPath(paths, planId)).size,
    snapshotBytes: fs.statSync(runPath(paths, planId)).size,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  }));
  machine.close();
}
