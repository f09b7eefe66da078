// Progress line formatting: fits the terminal, numbers add up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProgress } from '../dist/commands/progress.js';

test('progress line shows counts, rate, elapsed, ETA and in-flight chunks within 80 columns', () => {
  const line = formatProgress({
    total: 120,
    done: 30,
    failed: 2,
    rowsWritten: 1_500_000,
    inFlight: ['c31', 'c32'],
    startedAtMs: 0,
    nowMs: 60_000,
  });
  assert.ok(line.length <= 80, line);
  assert.match(line, /^\[#+\.+\]  26% 30\/120 · 2 failed · 1\.5M rows · 25\.0k\/s · 1m00s · ETA 2m56s$/);
});

test('progress line shows what the statements in flight have read and written so far', () => {
  const line = formatProgress(
    { total: 4, done: 1, failed: 0, rowsWritten: 100, inFlight: ['#2'], startedAtMs: 0, nowMs: 10_000, inFlightRows: { read: 2_500_000, written: 1_200 } },
    120,
  );
  assert.match(line, / · now 2\.5M read, 1\.2k written \[#2\]$/);
});

test('rate and ETA count only what this process did', () => {
  const line = formatProgress({
    total: 10,
    done: 8,
    failed: 0,
    rowsWritten: 800,
    inFlight: [],
    startedAtMs: 0,
    nowMs: 10_000,
    doneAtStart: 6,
    rowsAtStart: 600,
  });
  assert.match(line, / 8\/10 · 800 rows · 20\/s · 10s · ETA 10s$/);
  const fresh = formatProgress({ total: 4, done: 0, failed: 0, rowsWritten: 0, inFlight: ['a'], startedAtMs: 0, nowMs: 0 });
  assert.match(fresh, /ETA --/);
  const narrow = formatProgress({ total: 4, done: 1, failed: 0, rowsWritten: 5, inFlight: ['a'.repeat(200)], startedAtMs: 0, nowMs: 5 }, 40);
  assert.equal(narrow.length, 40);
});

test('run shows live progress on a terminal, a plain line without one, nothing with --json', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { createProject, seedEvents, BIN } = await import('./helpers/project.mjs');
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1, maxParallelChunks: 2 } } });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.src_rows', hours: 8, rowsPerHour: 20 });
  await p.exec(
    `CREATE VIEW app.src AS SELECT event_time, user_id, kind, value + sleepEachRow(0.02) AS value FROM app.src_rows`,
    `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY event_time`,
  );
  const planOf = (to) => p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', to]).json.planId;

  const tty = spawnSync('script', ['-qec', [process.execPath, BIN, 'run', '--plan-id', planOf('2025-01-01T08:00:00Z')].map((a) => `'${a}'`).join(' '), '/dev/null'], {
    cwd: p.dir,
    encoding: 'utf8',
  });
  assert.equal(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /\r\x1b\[2K\[[#.]+\] +\d+% \d\/8 · \d+ rows · [\d.k]+\/s · \d+s · ETA [\d.ms-]+ \[#\d+(,#\d+)?\]/);
  assert.match(tty.stdout, /Completed [0-9a-f]{16}/);

  const plain = p.cli(['run', '--plan-id', planOf('2025-01-01T04:00:00Z')], { text: true });
  assert.equal(plain.code, 0);
  assert.match(plain.stderr, /^progress: \[[#.]+\] +\d+% \d\/4 · /m);
  assert.doesNotMatch(plain.stderr, /\x1b/);

  const json = p.cli(['run', '--plan-id', planOf('2025-01-01T02:00:00Z')]);
  assert.equal(json.code, 0);
  assert.equal(json.stderr, '');
  assert.equal(json.json.status, 'completed');
});

test('inside a long chunk the live line shows the rows its statement has read so far (system.processes)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { createProject, BIN } = await import('./helpers/project.mjs');
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 8 } } });
  t.after(p.cleanup);
  // 200 rows read 10 at a time, 30 ms a row: one chunk of about 6 s.
  await p.exec(
    'CREATE DATABASE app',
    `CREATE VIEW app.src AS SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + number * 144 AS event_time, number + sleepEachRow(0.03) AS value
     FROM numbers(200) SETTINGS max_block_size = 10`,
    'CREATE TABLE app.events (event_time DateTime, value Float64) ENGINE = MergeTree ORDER BY event_time',
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T08:00:00Z', '--setting', 'max_threads=1']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const tty = spawnSync('script', ['-qec', [process.execPath, BIN, 'run', '--plan-id', planned.json.planId].map((a) => `'${a}'`).join(' '), '/dev/null'], {
    cwd: p.dir,
    encoding: 'utf8',
  });
  assert.equal(tty.status, 0, tty.stdout);
  const seen = [...tty.stdout.matchAll(/ · now (\d+) read, \d+ written \[#1\]/g)].map((m) => Number(m[1]));
  assert.ok(seen.some((n) => n > 0 && n < 200), `rows read mid-chunk: ${seen.join(', ')}\n${tty.stdout.slice(-1500)}`);
  assert.match(tty.stdout, /Completed [0-9a-f]{16}/);
});

test('a plan sized by rows: the bar and the ETA go by expected rows, not by chunk counts', () => {
  // 2 of 4 chunks done, but they held 10 of 100 expected rows, 5 of them before this process.
  const line = formatProgress({
    total: 4,
    done: 2,
    failed: 0,
    rowsWritten: 10,
    inFlight: [],
    startedAtMs: 0,
    nowMs: 10_000,
    doneAtStart: 1,
    rowsAtStart: 5,
    expected: { total: 100, done: 10, failed: 0, doneAtStart: 5 },
  });
  // 10 % done; 5 expected rows in 10 s here, 90 to go: 180 s.
  assert.match(line, /^\[#*\.+\]  10% 2\/4 · 10 rows · 1\/s · 10s · ETA 3m00s$/);
  // Failed chunks count as settled for the bar and are not waited for.
  const failed = formatProgress({ total: 4, done: 2, failed: 1, rowsWritten: 10, inFlight: [], startedAtMs: 0, nowMs: 10_000, expected: { total: 100, done: 10, failed: 40, doneAtStart: 0 } });
  assert.match(failed, /  50% 2\/4 · 1 failed · .* ETA 50s$/);
});
