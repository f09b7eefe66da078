// One benchmark point in a fresh process (so peak RSS is this point's own):
// plan N chunks, then drive a run of them with an executor that does no
// ClickHouse work. Prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPlanWithText, planFacts, RunMachine } from '../dist/core.js';
import { drive } from '../dist/driver.js';
import { EventLog } from '../dist/store.js';

const n = Number(process.argv[2]);
const fsyncPerChunk = process.argv[3] !== 'nofsync';
// `plan`: build the plan and write it to argv[4]; `run`: read it from there, as `run` does.
const phase = process.argv[5] ?? 'both';
const planFile = process.argv[4];
const chunkHours = 0.25;
const from = Date.parse('2020-01-01T00:00:00Z');
const to = new Date(from + n * chunkHours * 3_600_000).toISOString();

let t0 = performance.now();
let plan;
let planMs;
let planText;
if (phase === 'run') {
  plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
} else {
({ plan, text: planText } = buildPlanWithText({
  options: { defaults: { timeColumn: 'event_time', chunkHours }, limits: { maxWindowHours: 1e9 } },
  target: 'app.events',
  from: new Date(from).toISOString(),
  to,
  forceLargeWindow: true,
  now: new Date().toISOString(),
}));
planText += '\n'; // as `plan` writes it
planMs = performance.now() - t0;
if (phase === 'plan') {
  fs.writeFileSync(planFile, planText);
  console.log(JSON.stringify({ chunks: n, planMs, planBytes: Buffer.byteLength(planText), planRssMB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-bench-'));
try {
  t0 = performance.now();
  const machine = RunMachine.open(planFacts(plan, 'default'), undefined, '');
  const log = new EventLog(path.join(dir, 'events.ndjson'), 0);
  log.append(
    machine.apply({
      event: 'run_started', mode: 'run', compatibility: 'bench', pid: process.pid, host: 'bench',
      replayDone: false, replayFailed: false, settings: { maxParallelChunks: 1, maxRetriesPerChunk: 3, retryDelayMs: 1000 }, forced: [],
    }),
  );
  const openMs = performance.now() - t0;
  // Like the real executor: one measured event and a write-ahead sync before the (absent) INSERT.
  const executor = {
    async run(a, io) {
      io.record({ event: 'chunk_measured', chunk: a.chunk, before: 0, expected: 1 });
      if (fsyncPerChunk) io.durable();
      return { kind: 'succeeded', rows: 1 };
    },
    async kill() {},
  };
  t0 = performance.now();
  const status = await drive({ machine, log, executor, snapshotFile: path.join(dir, 'run.json') });
  const runMs = performance.now() - t0;
  log.close();
  if (status !== 'completed' || machine.summary().rowsWritten !== n) throw new Error(`run ended ${status}`);
  console.log(JSON.stringify({
    chunks: n,
    fsync: fsyncPerChunk,
    openMs,
    runMs,
    perChunkMs: runMs / n,
    eventBytes: fs.statSync(path.join(dir, 'events.ndjson')).size,
    snapshotBytes: fs.statSync(path.join(dir, 'run.json')).size,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  }));
  machine.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
