// Retries on the embedded engine. Failures are real server errors: a copy
// source view computes a column with throwIf(..., code) for one chunk's rows
// (optionally only in the first attempts, told by the query id the run marks
// each statement with), or reads a column that was dropped. Nothing here
// depends on how fast the machine is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, MINUTE_ROWS } from './helpers/project.mjs';

async function setup(t, { retries, delayMs, viewCondition }) {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 3, maxRetriesPerChunk: retries, retryDelayMs: delayMs } } });
  t.after(p.cleanup);
  await p.exec(
    ...MINUTE_ROWS,
    // Computed after the chunk's WHERE: only rows of [06:00, 09:00) can throw.
    `CREATE VIEW app.flaky AS SELECT event_time, user_id + throwIf(event_time >= toDateTime('2025-01-01 06:00:00', 'UTC')
       AND event_time < toDateTime('2025-01-01 09:00:00', 'UTC') AND ${viewCondition}, 'simulated overload', toInt32(202)) AS user_id
     FROM app.base SETTINGS allow_custom_error_code_in_throwif = 1`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.flaky', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout);
  return { p, planId: planned.json.planId };
}

/**
 * True while the INSERT running is attempt 1…n of its chunk: the run marks every statement
 * `/* chkit-backfill qid=<…>-a<attempt>-s<statement> *\/`, and the embedded engine lists it in
 * system.processes while it runs.
 */
const inAttemptsUpTo = (n) =>
  `(SELECT count() FROM system.processes WHERE match(query, '^/\\\\* chkit-backfill qid=\\\\S+-a[1-${n}]-s0 \\\\*/')) > 0`;

const events = (r) => fs.readFileSync(r.json.eventPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('a transient overload error (202) is retried with exponential backoff and succeeds within budget', async (t) => {
  // The view throws in the first three attempts of chunk 2; the fourth gets past it.
  const { p, planId } = await setup(t, { retries: 6, delayMs: 100, viewCondition: inAttemptsUpTo(3) });
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  const failed = events(r).filter((e) => e.event === 'chunk_failed');
  assert.equal(failed.length, 3, 'attempts 1 to 3 of chunk 2 failed');
  failed.forEach((e, k) => {
    assert.equal(e.chunk, 2);
    assert.equal(e.error.code, 202);
    assert.equal(e.retryable, true);
    assert.equal(e.retryAt - e.at, 100 * 2 ** k, 'retryDelayMs · 2^(attempt-1)');
  });
  const [a] = await p.rows('SELECT count() c, sum(user_id) s FROM app.base');
  const [b] = await p.rows('SELECT count() c, sum(user_id) s FROM app.events');
  assert.deepEqual(b, a, 'every row exactly once despite the failed attempts');
  const s = p.cli(['status', '--plan-id', planId]);
  assert.equal(s.json.attempts, 4 + failed.length);
});

test('a chunk that exhausts its budget fails, the run goes on, ends failed; resume retries it', async (t) => {
  const { p, planId } = await setup(t, { retries: 2, delayMs: 10, viewCondition: '1' });
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.json.status, 'failed');
  assert.equal(r.json.ok, false);
  assert.deepEqual(r.json.chunkCounts, { total: 4, pending: 0, running: 0, checking: 0, done: 3, failed: 1, skipped: 0 });
  assert.equal(r.json.attempts, 5, '3 chunks once, the failing one twice');
  assert.equal(r.json.lastError.code, 202);
  assert.match(r.json.lastError.message, /simulated overload/);
  const text = p.cli(['status', '--plan-id', planId], { text: true });
  // Long server messages are wrapped to 80 columns and cut after a few lines.
  assert.match(text.stdout.replace(/\n +/g, ' '), /last error \(202 TOO_MANY_SIMULTANEOUS_QUERIES\): .*simulated overload/);
  assert.ok(text.stdout.split('\n').every((l) => l.length <= 80));
  // Fix the source; resume retries failed chunks by default.
  await p.exec('DROP VIEW app.flaky', 'CREATE VIEW app.flaky AS SELECT event_time, user_id FROM app.base');
  const resumed = p.cli(['resume', '--plan-id', planId]);
  assert.equal(resumed.code, 0, resumed.stdout);
  assert.equal(resumed.json.chunkCounts.done, 4);
  const [b] = await p.rows('SELECT count() c FROM app.events');
  assert.equal(Number(b.c), 720);
});

test('an error retrying cannot fix (47 UNKNOWN_IDENTIFIER) fails each chunk at once without retries', async (t) => {
  const { p, planId } = await setup(t, { retries: 5, delayMs: 10, viewCondition: '0' });
  await p.exec('DROP VIEW app.flaky', 'ALTER TABLE app.base ADD COLUMN extra UInt8 DEFAULT 1', 'CREATE VIEW app.flaky AS SELECT event_time, user_id + extra AS user_id FROM app.base', 'ALTER TABLE app.base DROP COLUMN extra');
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.json.chunkCounts.failed, 4);
  assert.equal(r.json.attempts, 4, 'one attempt per chunk');
  assert.equal(r.json.lastError.code, 47);
  assert.equal(r.json.lastError.type, 'UNKNOWN_IDENTIFIER');
  assert.ok(events(r).filter((e) => e.event === 'chunk_failed').every((e) => e.retryable === false && e.retryAt === undefined));
});

/**
 * What an INSERT killed mid-commit can leave (seen in kill/resume stress on this engine): a
 * deduplication record for the chunk's token, and none of its rows in the window. Set up with a
 * real insert under that token outside the window; the chunk's first attempt fails (202).
 */
async function tokenLeftBehind(t, extraSql = []) {
  const { p, planId } = await setup(t, { retries: 6, delayMs: 10, viewCondition: inAttemptsUpTo(1) });
  const plan = JSON.parse(fs.readFileSync(path.join(p.stateDir, 'plans', `${planId}.json`), 'utf8'));
  await p.exec(
    'ALTER TABLE app.events MODIFY SETTING non_replicated_deduplication_window = 100',
    `INSERT INTO app.events SELECT toDateTime('2030-01-01', 'UTC'), 0 SETTINGS insert_deduplication_token='${plan.chunks[2].idempotencyToken}'`,
    ...extraSql,
  );
  return { p, planId };
}

test('a retry whose window holds none of its rows goes in even though the deduplication log already holds its token', async (t) => {
  const { p, planId } = await tokenLeftBehind(t);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const ev = events(r);
  assert.ok(ev.some((e) => e.event === 'chunk_failed' && e.chunk === 2 && e.error.code === 202), 'the first attempt failed');
  assert.ok(ev.some((e) => e.event === 'note' && /sent again without deduplication on its token/.test(e.message)));
  assert.equal(r.json.rowsWritten, 720);
  const [a] = await p.rows('SELECT count() c, sum(user_id) s FROM app.base');
  const [b] = await p.rows(`SELECT count() c, sum(user_id) s FROM app.events WHERE event_time < '2030-01-01'`);
  assert.deepEqual(b, a, 'every row exactly once');
});

test('with a view reading from the target the retry keeps its token: dropped again, the chunk stops for the operator', async (t) => {
  const { p, planId } = await tokenLeftBehind(t, [
    'CREATE TABLE app.fanout (user_id UInt64) ENGINE = MergeTree ORDER BY user_id',
    'CREATE MATERIALIZED VIEW app.fanout_mv TO app.fanout AS SELECT user_id FROM app.events',
  ]);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json.chunksNeedingOperator, 1);
  assert.match(r.json.lastError.message, /added none of its 180 rows: the target dropped it/);
  assert.ok(r.json.notes.some((n) => /views read from app\.events \(app\.fanout_mv\): a retry after a killed INSERT keeps its token/.test(n)));
  assert.ok(!events(r).some((e) => e.event === 'note' && /without deduplication/.test(e.message)));
  assert.deepEqual([r.json.chunkCounts.done, r.json.chunkCounts.failed], [3, 1]);
});
