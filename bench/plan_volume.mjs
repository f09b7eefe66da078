// Plan time of a plan sized by rows: a 20M-row table on the embedded engine,
// `plan --chunk-rows 500000` as a user runs it (the CLI, one process), and the
// distribution query alone. Prints one JSON line.
import { createProject } from '../tests/helpers/project.mjs';

const ROWS = Number(process.env.BENCH_VOLUME_ROWS ?? 20_000_000);
const p = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
try {
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY (event_time, user_id)',
    // 30 days, rows per second growing with time (a skewed month).
    `INSERT INTO app.events SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + toUInt32(2592000 * sqrt(number / ${ROWS})), number % 1000, 'click', number / 7 FROM numbers(${ROWS})`,
    'OPTIMIZE TABLE app.events FINAL',
  );
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-31', '--chunk-rows', '500000'];
  const t0 = performance.now();
  const r = p.cli(args);
  const planMs = performance.now() - t0;
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  // The distribution query alone, in a process with the engine already open.
  const queryMs = await p.withDb(async (db) => {
    const t = performance.now();
    await db.rows(
      `SELECT intDiv(toUnixTimestamp64Milli(toDateTime64(event_time, 3, 'UTC')) - 1735689600000, 900000) AS cell, count() AS rows FROM app.events
       WHERE event_time >= toDateTime64('2025-01-01 00:00:00.000', 3, 'UTC') AND event_time < toDateTime64('2025-01-31 00:00:00.000', 3, 'UTC')
       GROUP BY cell ORDER BY cell SETTINGS enable_parallel_replicas = 0, max_parallel_replicas = 1`,
    );
    return performance.now() - t;
  });
  // Node start and the embedded engine's start, which every CLI call pays.
  const t1 = performance.now();
  p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02', '--chunk-hours', '24', '--dry-run']);
  const hourPlanMs = performance.now() - t1;
  console.log(JSON.stringify({ rows: ROWS, chunks: r.json.chunkCount, planMs, queryMs, hourPlanMs }));
} finally {
  p.cleanup();
}
