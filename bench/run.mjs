// `npm run bench`: orchestration cost per chunk without ClickHouse work,
// plan time and size, and peak RSS, for 100 … 100,000 chunks. Each point
// runs in its own process. Prints a table and writes BENCHMARKS.md.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { realDataBench } from './real.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const counts = [100, 1_000, 10_000, 100_000];
// A run of 100 chunks takes tens of milliseconds: the median of several processes, not one.
const repeats = { 100: 7, 1_000: 3 };
const rows = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-bench-plans-'));
let syncMs;
let volumePlan;
/** A separate phase: plan time of `plan --chunk-rows` on a 20M-row table (bench/plan_volume.mjs). */
function planByRows() {
  const r = spawnSync(process.execPath, [path.join(here, 'plan_volume.mjs')], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench plan_volume: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}
const point = (...args) => {
  const r = spawnSync(process.execPath, [path.join(here, 'drive_one.mjs'), ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
};
try {
  for (const fsync of [true, false]) {
    for (const n of counts) {
      const stateDir = path.join(tmp, String(n));
      const planned = point(String(n), 'fsync', stateDir, 'plan');
      const runs = Array.from({ length: repeats[n] ?? 1 }, () => point(String(n), fsync ? 'fsync' : 'nofsync', stateDir, 'run', planned.planId));
      runs.sort((a, b) => a.perChunkMs - b.perChunkMs);
      const median = runs[runs.length >> 1];
      rows.push({ ...planned, ...median, runs: runs.length, maxRssMB: Math.max(...runs.map((r) => r.maxRssMB)) });
    }
  }
  syncMs = fdatasyncLatency(path.join(tmp, 'sync-probe.ndjson'));
  volumePlan = planByRows();
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** What the disk charges for the write-ahead sync alone: append an event-sized line, fdatasync; median of 200. */
function fdatasyncLatency(file) {
  const fd = fs.openSync(file, 'a');
  const line = Buffer.from('x'.repeat(340) + '\n');
  const took = [];
  try {
    for (let i = 0; i < 200; i++) {
      fs.writeSync(fd, line);
      const t0 = performance.now();
      fs.fdatasyncSync(fd);
      took.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
  }
  return took.sort((a, b) => a - b)[100];
}

const fmt = (x, d = 3) => x.toFixed(d);
const mb = (b) => (b / 1024 / 1024).toFixed(1);
const header = '| chunks | fsync per chunk | per chunk (ms) | run total (ms) | plan (ms) | plan size (MB) | event log (MB) | snapshot (MB) | plan RSS (MB) | run RSS (MB) |';
const sep = '|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|';
const lines = rows.map(
  (r) =>
    `| ${r.chunks.toLocaleString('en')} | ${r.fsync ? 'yes' : 'no'} | ${fmt(r.perChunkMs)} | ${fmt(r.runMs, 0)} | ${fmt(r.planMs, 0)} | ${mb(r.planBytes)} | ${mb(r.eventBytes)} | ${mb(r.snapshotBytes)} | ${fmt(r.planRssMB, 0)} | ${fmt(r.maxRssMB, 0)} |`,
);
// The target is the orchestration cost (an executor that returns at once); the rows with
// the write-ahead fdatasync add what this disk charges for durability.
const withFsync = rows.filter((r) => r.fsync);
const orchestration = rows.filter((r) => !r.fsync);
const flat = orchestration.find((r) => r.chunks === 10_000).perChunkMs / orchestration.find((r) => r.chunks === 100).perChunkMs;
const big = withFsync.find((r) => r.chunks === 100_000);
const maxOf = (rs) => fmt(Math.max(...rs.map((r) => r.perChunkMs)));
const verdicts = [
  `- per chunk ≤ 0.5 ms (orchestration, all sizes): ${orchestration.every((r) => r.perChunkMs <= 0.5) ? 'met' : 'NOT met'} (max ${maxOf(orchestration)} ms)`,
  `- with the write-ahead fdatasync per chunk (median ${fmt(syncMs)} ms on this disk): ${withFsync.every((r) => r.perChunkMs <= 0.5) ? 'also within 0.5 ms' : 'over 0.5 ms'} at ${withFsync.filter((r) => r.perChunkMs > 0.5).map((r) => r.chunks.toLocaleString('en')).join(', ') || 'no size'} chunks (max ${maxOf(withFsync)} ms)`,
  `- flat from 100 to 10,000 chunks (within 1.5×): ${flat <= 1.5 ? 'met' : 'NOT met'} (10,000 / 100 = ${flat.toFixed(2)}×)`,
  `- plan of 100,000 chunks ≤ 1 s: ${big.planMs <= 1000 ? 'met' : 'NOT met'} (${fmt(big.planMs, 0)} ms, build + JSON text)`,
  `- RSS of a 100,000-chunk run ≤ 200 MB: ${big.maxRssMB <= 200 ? 'met' : 'NOT met'} (${fmt(big.maxRssMB, 0)} MB peak of the run process, which reads the ${mb(big.planBytes)} MB plan file; planning it peaked at ${fmt(big.planRssMB, 0)} MB)`,
  `- plan --chunk-rows 500000 of a ${(volumePlan.rows / 1e6).toFixed(0)}M-row table ≤ 2 s: ${volumePlan.planMs <= 2000 ? 'met' : 'NOT met'} (${fmt(volumePlan.planMs, 0)} ms for the whole \`plan\` process, ${volumePlan.chunks} chunks; the distribution query alone ${fmt(volumePlan.queryMs, 0)} ms; a one-chunk hour plan, i.e. node and engine start, ${fmt(volumePlan.hourPlanMs, 0)} ms)`,
];
const table = [header, sep, ...lines].join('\n');
console.log(table + '\n\n' + verdicts.join('\n'));

console.log('\nreal data: 5M rows over 30 days on the embedded engine');
const real = await realDataBench();
const realText = [real.table, '', real.tiny, '', real.parallel, '', real.startup, '', ...real.verdicts].join('\n');
console.log(realText);

const md = `# Benchmarks

Measured by \`npm run bench\` (bench/run.mjs) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${process.platform}/${process.arch}.

What is measured: the real driver (js/engine/driver.ts) and run state machine (src/run_state.rs via WASM)
executing a table plan of N chunks with an executor that does no ClickHouse work: per chunk it
reads the chunk's statements from the plan file, logs \`chunk_started\`, \`chunk_measured\`,
\`chunk_succeeded\` to the NDJSON event log, and the snapshot is rewritten about once a second.
"fsync per chunk: yes" also makes the log durable once per chunk (fdatasync, the write-ahead point
before an INSERT), as the real executor does; the target is the orchestration cost, the rows without it.
Plan time is \`buildPlan\` in the core plus the plan file's text, in its own process; the run process
then opens that plan file and its run the way \`run\` does (store.readPlan, runs.openRun).
Peak RSS is the whole process (\`process.resourceUsage().maxRSS\`), one process per measurement.
A run of 100 chunks lasts tens of milliseconds, so its row is the median of 7 processes (1,000: of 3)
and its RSS the highest of them.

${table}

Targets:
${verdicts.join('\n')}

## Real data (bench/real.mjs)

A source of 5M rows over 30 days (\`app.events\`, MergeTree ordered by time), on the embedded engine.
\`mv_replay\`: an hourly \`SummingMergeTree\` (deduplication window 1000) fed by a materialized view;
\`table\`: a copy of the source backfilled into itself. Each run is a whole \`chkit-backfill run\`
process on a reset target; the limit is one \`INSERT … SELECT\` of the whole window in a whole
process of its own. Interleaved, median of ${process.env.BENCH_ROUNDS ?? 3} rounds. Phases from the run's event log:
start-up (process start → \`run_started\`), before the first chunk (engine facts, baselines),
the chunks, and after the last chunk (snapshot, close, exit); "engine statements alone" runs the
plan's statements in order from one process with a bare client, right after each run, and the
cost above them is the median of those pairs. maxParallelChunks 2 and 4: one
run each, in the first round. If the machine is shared with other jobs, compare ratios within
one run only, and measure again on a quiet machine.

${realText}
`;
// What is written by hand below the marker (earlier measurements, profiles) is kept.
const MARKER = '## Notes and earlier measurements';
const file = path.join(here, '..', 'BENCHMARKS.md');
const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
const notes = old.includes(MARKER) ? old.slice(old.indexOf(MARKER)) : `${MARKER}\n\n(none yet)\n`;
fs.writeFileSync(file, `${md}\n${notes}`);
console.log('\nwrote BENCHMARKS.md');
