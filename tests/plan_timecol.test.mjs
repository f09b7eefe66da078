// A target time column that cannot hold a chunk boundary (a `Date` cut into
// 6-hour chunks, a `DateTime` cut on milliseconds) puts rows outside the window
// they were read for, and the row counts that make a run exactly-once can no
// longer be trusted: `plan` refuses such a plan (exit 2, nothing written) and
// says which chunking would work. Coarse columns with a chunking they can hold
// run exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProject } from './helpers/project.mjs';

function project(t, options = {}) {
  const p = createProject({ options: { defaults: { chunkHours: 6, retryDelayMs: 10 }, ...options } });
  t.after(p.cleanup);
  return p;
}

/** `app.src` (DateTime, 60 rows an hour over two days) and an empty `app.events` whose event_time is `type`. */
async function tables(p, type) {
  await p.exec(
    'CREATE DATABASE IF NOT EXISTS app',
    'CREATE TABLE app.src (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    "INSERT INTO app.src SELECT toDateTime('2025-01-01', 'UTC') + number * 60, number FROM numbers(2880)",
    `CREATE TABLE app.events (event_time ${type}, user_id UInt64) ENGINE = MergeTree ORDER BY user_id`,
  );
}

const copyArgs = (extra = []) => ['--target', 'app.events', '--source', 'app.src', '--time-column', 'event_time', '--from', '2025-01-01', '--to', '2025-01-02', ...extra];

function refused(p, r, { type, hint }) {
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.json?.ok, false, r.stdout);
  assert.equal(r.json.code, 'time_column_unsound');
  assert.match(r.json.error, new RegExp(`app\\.events\\.event_time is ${type.replace(/[()]/g, '\\$&')}`), r.json.error);
  assert.match(r.json.error, hint, r.json.error);
  assert.deepEqual(p.stateFiles(), [], 'nothing written');
}

test('copy DateTime → Date cut into 6-hour chunks is refused at plan time, naming the column, its type and a chunking that works', async (t) => {
  const p = project(t);
  await tables(p, 'Date');
  const r = p.cli(['plan', ...copyArgs()]);
  refused(p, r, { type: 'Date', hint: /--chunk-hours 24 \(or a multiple of 24\) with --from and --to at 00:00 UTC/ });
  const text = p.cli(['plan', ...copyArgs()], { text: true });
  assert.equal(text.code, 2);
  assert.match(text.stderr + text.stdout, /event_time is Date/);
  assert.equal(p.cli(['plan', ...copyArgs(['--dry-run'])]).code, 2, 'a dry run is refused too');
  // The implicit plan of `run` is refused before it runs anything.
  const implicit = createProject({ options: { defaults: { chunkHours: 6 }, policy: { requireDryRunBeforeRun: false } } });
  t.after(implicit.cleanup);
  await tables(implicit, 'Date');
  refused(implicit, implicit.cli(['run', ...copyArgs()]), { type: 'Date', hint: /--chunk-hours 24/ });
  const [{ c }] = await implicit.rows('SELECT count() AS c FROM app.events');
  assert.equal(Number(c), 0, 'nothing inserted');
});

test('wrappers are looked through; whole days not aligned to UTC midnight are refused too', async (t) => {
  const p = project(t);
  await tables(p, 'Nullable(Date32)');
  refused(p, p.cli(['plan', ...copyArgs()]), { type: 'Nullable(Date32)', hint: /--chunk-hours 24/ });
  refused(p, p.cli(['plan', ...copyArgs(['--chunk-hours', '24', '--from', '2025-01-01T06:00:00Z', '--to', '2025-01-03T06:00:00Z'])]), {
    type: 'Nullable(Date32)',
    hint: /2025-01-01T06:00:00\.000Z/,
  });
});

test('the table strategy checks its own column: a Date table cut into 6-hour chunks is refused', async (t) => {
  const p = project(t);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.events (event_time Nullable(Date), user_id UInt64) ENGINE = MergeTree ORDER BY user_id',
    "INSERT INTO app.events SELECT toDate('2025-01-01') + number % 2, number FROM numbers(100)",
  );
  const r = p.cli(['plan', '--target', 'app.events', '--time-column', 'event_time', '--from', '2025-01-01', '--to', '2025-01-02']);
  refused(p, r, { type: 'Nullable(Date)', hint: /--chunk-hours 24/ });
});

test('a copy target without the time column, or with a non-time column of that name, is refused', async (t) => {
  const p = project(t);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.src (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    'CREATE TABLE app.events (ts DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY user_id',
    'CREATE TABLE app.strings (event_time String, user_id UInt64) ENGINE = MergeTree ORDER BY user_id',
  );
  const missing = p.cli(['plan', ...copyArgs()]);
  assert.equal(missing.code, 2, missing.stdout);
  assert.equal(missing.json.code, 'time_column_unsound');
  assert.match(missing.json.error, /app\.events has no column event_time/);
  const wrong = p.cli(['plan', '--target', 'app.strings', ...copyArgs().slice(2)]);
  assert.equal(wrong.code, 2, wrong.stdout);
  assert.match(wrong.json.error, /app\.strings\.event_time is String, not a date\/time type/);
  assert.deepEqual(p.stateFiles(), []);
});

test('DateTime refuses sub-second boundaries; DateTime64(p) takes boundaries at its precision', async (t) => {
  const p = project(t);
  await tables(p, "DateTime('UTC')");
  refused(p, p.cli(['plan', ...copyArgs(['--from', '2025-01-01T00:00:00.500Z'])]), { type: "DateTime('UTC')", hint: /whole seconds/ });
  await p.exec('DROP TABLE app.events', 'CREATE TABLE app.events (event_time DateTime64(1), user_id UInt64) ENGINE = MergeTree ORDER BY user_id');
  refused(p, p.cli(['plan', ...copyArgs(['--from', '2025-01-01T00:00:00.050Z'])]), { type: 'DateTime64(1)', hint: /multiples of 0\.1 s/ });
  assert.equal(p.cli(['plan', ...copyArgs(['--from', '2025-01-01T00:00:00.100Z', '--dry-run'])]).code, 0, 'a boundary at its precision');
});

async function runExact(p, planArgs, { windowSql }) {
  const planned = p.cli(['plan', ...planArgs]);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  const q = (t) => `SELECT count() AS c, toString(sum(user_id)) AS s FROM ${t}`;
  assert.deepEqual(await p.rows(q('app.events')), await p.rows(`${q('app.src')} WHERE ${windowSql}`), 'every row of the window exactly once');
  return { planned, r };
}

test('copy DateTime → Date with whole-day chunks aligned to UTC midnight is accepted and runs exact', async (t) => {
  const p = project(t);
  await tables(p, 'Date');
  const { planned, r } = await runExact(p, copyArgs(['--chunk-hours', '24', '--to', '2025-01-03']), {
    windowSql: "event_time < toDateTime('2025-01-03', 'UTC')",
  });
  assert.equal(planned.json.chunkCount, 2);
  assert.equal(r.json.rowsWritten, 2880);
  assert.deepEqual(await p.rows('SELECT toString(event_time) AS d, toString(count()) AS c FROM app.events GROUP BY d ORDER BY d'), [
    { d: '2025-01-01', c: '1440' },
    { d: '2025-01-02', c: '1440' },
  ]);
  // Run again: completed, nothing doubled.
  assert.equal(p.cli(['run', '--plan-id', planned.json.planId]).code, 0);
  const [{ c }] = await p.rows('SELECT count() AS c FROM app.events');
  assert.equal(Number(c), 2880);
});

test('copy DateTime → DateTime64(3) with 15-minute chunks is accepted and runs exact', async (t) => {
  const p = project(t);
  await tables(p, 'DateTime64(3)');
  const { planned, r } = await runExact(p, copyArgs(['--chunk-hours', '0.25', '--to', '2025-01-01T06:00:00Z']), {
    windowSql: "event_time < toDateTime('2025-01-01 06:00:00', 'UTC')",
  });
  assert.equal(planned.json.chunkCount, 24);
  assert.equal(r.json.rowsWritten, 360);
});
