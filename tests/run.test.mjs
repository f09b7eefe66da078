// run / resume / status / cancel on the embedded engine: the spine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';

const opts = (extra = {}) => ({ defaults: { timeColumn: 'event_time', retryDelayMs: 10, ...extra.defaults }, ...extra.rest });

/** Rows per chunk window (and outside the plan window) of a table. */
async function windowCounts(p, table, plan) {
  const counts = [];
  await p.withDb(async (db) => {
    for (const c of plan.chunks) {
      const [r] = await db.rows(
        `SELECT count() AS c FROM ${table} WHERE event_time >= parseDateTime64BestEffort('${c.from}', 3, 'UTC') AND event_time < parseDateTime64BestEffort('${c.to}', 3, 'UTC')`,
      );
      counts.push(Number(r.c));
    }
    const [o] = await db.rows(
      `SELECT count() AS c FROM ${table} WHERE NOT (event_time >= parseDateTime64BestEffort('${plan.from}', 3, 'UTC') AND event_time < parseDateTime64BestEffort('${plan.to}', 3, 'UTC'))`,
    );
    counts.outside = Number(o.c);
  });
  return counts;
}

const readPlan = (r) => JSON.parse(fs.readFileSync(r.json.planPath, 'utf8'));

test('table plan: each chunk window re-inserted exactly once, rows outside untouched, status adds up', async (t) => {
  const p = createProject({ options: opts() });
  t.after(p.cleanup);
  // 30 h of data, window of 24 h starting at 03:00: rows before and after the window exist.
  await seedEvents(p, { from: '2025-01-01 00:00:00', hours: 30, rowsPerHour: 50 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01T03:00:00Z', '--to', '2025-01-02T03:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const plan = readPlan(planned);
  const before = await windowCounts(p, 'app.events', plan);
  assert.ok(before.outside > 0 && before.every((c) => c > 0));

  const status0 = p.cli(['status', '--plan-id', plan.planId]);
  assert.equal(status0.json.status, 'planned');
  assert.equal(status0.json.chunkCounts.pending, 4);

  const r = p.cli(['run', '--plan-id', plan.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  const after = await windowCounts(p, 'app.events', plan);
  assert.deepEqual([...after], before.map((c) => c * 2), 'every chunk window doubled exactly');
  assert.equal(after.outside, before.outside, 'rows outside the window untouched');

  const s = p.cli(['status', '--plan-id', plan.planId]);
  assert.equal(s.code, 0);
  const sum = before.reduce((a, b) => a + b, 0);
  assert.equal(s.json.status, 'completed');
  assert.equal(s.json.rowsWritten, sum);
  assert.deepEqual(s.json.chunkCounts, { total: 4, pending: 0, running: 0, checking: 0, done: 4, failed: 0, skipped: 0 });
  assert.equal(s.json.attempts, 4);
  // Each chunk's INSERT is timed in the log (chunk_inserted: counted later, with the others).
  const timed = fs.readFileSync(r.json.eventPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'chunk_inserted');
  assert.deepEqual(timed.map((e) => e.chunk), [0, 1, 2, 3]);
  assert.ok(timed.every((e) => typeof e.statementMs === 'number' && e.statementMs > 0), JSON.stringify(timed));
  for (const k of ['ok', 'command', 'planId', 'status', 'chunkCounts', 'attempts', 'rowsWritten', 'runPath', 'eventPath', 'updatedAt']) {
    assert.ok(k in s.json, k);
  }
  // A completed run is a no-op; --replay-done executes again (the table doubles again).
  const again = p.cli(['run', '--plan-id', plan.planId]);
  assert.equal(again.code, 0);
  assert.equal(again.json.noop, true);
  assert.deepEqual([...(await windowCounts(p, 'app.events', plan))], before.map((c) => c * 2));
  const replay = p.cli(['run', '--plan-id', plan.planId, '--replay-done']);
  assert.equal(replay.code, 0, replay.stdout);
  assert.deepEqual([...(await windowCounts(p, 'app.events', plan))], before.map((c) => c * 4));
  assert.equal(replay.json.rowsWritten, sum * 3, 'rows written accumulate over executions');
  // The snapshot holds no SQL.
  assert.doesNotMatch(fs.readFileSync(s.json.runPath, 'utf8'), /INSERT|SELECT/);
});

test('run without a configured connection exits 2 and marks nothing done', async (t) => {
  const p = createProject({ connection: false, options: opts() });
  t.after(p.cleanup);
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(planned.code, 0);
  const before = p.stateFiles();
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.json.error, /needs a ClickHouse connection: set clickhouse: \{ url:/);
  assert.deepEqual(p.stateFiles(), before, 'no run state, no events');
  assert.equal(p.cli(['status', '--plan-id', planned.json.planId]).json.status, 'planned');
});

test('copy strategy runs: the target window equals the source window', async (t) => {
  const p = createProject({ options: opts() });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.old_events', hours: 24, rowsPerHour: 40 });
  await p.exec(
    `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64, extra String DEFAULT 'x')
     ENGINE = MergeTree ORDER BY (event_time, user_id)`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.old_events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(planned.code, 0, planned.stdout);
  assert.equal(planned.json.strategy, 'copy');
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.rowsWritten, 24 * 40);
  const [a] = await p.rows(`SELECT count() c, sum(cityHash64(event_time, user_id, kind, value)) h FROM app.old_events`);
  const [b] = await p.rows(`SELECT count() c, sum(cityHash64(event_time, user_id, kind, value)) h FROM app.events`);
  assert.deepEqual(b, a);
});

test('an INSERT the target drops (its token already used) stops the chunk for the operator, never reported done', async (t) => {
  const p = createProject({ options: opts() });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.old_events', hours: 12, rowsPerHour: 10 });
  await p.exec(
    `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64)
     ENGINE = MergeTree ORDER BY (event_time, user_id) SETTINGS non_replicated_deduplication_window = 100`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.old_events', '--from', '2025-01-01T00:00:00Z', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout);
  const plan = readPlan(planned);
  // A block already inserted under the first chunk's token (outside the window): the server
  // drops that chunk's INSERT as a duplicate and the INSERT still returns success.
  await p.exec(
    `INSERT INTO app.events SELECT toDateTime('2030-01-01 00:00:00', 'UTC'), 1, 'other', 0 SETTINGS insert_deduplication_token='${plan.chunks[0].idempotencyToken}'`,
  );
  const r = p.cli(['run', '--plan-id', plan.planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json.status, 'failed');
  assert.deepEqual([r.json.chunkCounts.done, r.json.chunkCounts.failed], [1, 1]);
  assert.equal(r.json.chunksNeedingOperator, 1);
  assert.match(r.json.lastError.message, /the INSERT returned but added none of its 60 rows: the target dropped it, most likely as a duplicate/);
  assert.equal(r.json.rowsWritten, 60, 'only the chunk that landed is counted');
  const [w] = await p.rows(`SELECT count() AS c FROM app.events WHERE event_time < '2030-01-01'`);
  assert.equal(Number(w.c), 60);

  // doctor's remedy, followed as given: deduplication off, replay, back on.
  const d = p.cli(['doctor', '--plan-id', plan.planId]).json;
  const fix = d.issues.find((i) => i.code === 'insert_dropped');
  assert.ok(fix, JSON.stringify(d.issues));
  assert.match(fix.message, /app\.events dropped 1 chunk insert\(s\) as duplicates .* back to 100/);
  assert.equal(fix.sql, 'ALTER TABLE `app`.`events` MODIFY SETTING non_replicated_deduplication_window = 0');
  await p.exec(fix.sql);
  const again = p.cli([...fix.command.split(' ')]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json.chunkCounts.done, 2);
  assert.equal(again.json.rowsWritten, 120);
  await p.exec('ALTER TABLE app.events MODIFY SETTING non_replicated_deduplication_window = 100');
  const [src] = await p.rows(`SELECT count() c, sum(cityHash64(event_time, user_id, kind, value)) h FROM app.old_events`);
  const [dst] = await p.rows(`SELECT count() c, sum(cityHash64(event_time, user_id, kind, value)) h FROM app.events WHERE event_time < '2030-01-01'`);
  assert.deepEqual(dst, src, 'the window now holds the source rows, once');
});

test('policies: requireDryRunBeforeRun, environment binding, compatibility, cancelled runs', async (t) => {
  const p = createProject({ options: opts() });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 12, rowsPerHour: 10 });
  // Default policy: run needs a plan made beforehand; plan flags are refused, not ignored.
  const implicit = p.cli(['run', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(implicit.code, 2, implicit.stdout);
  assert.match(implicit.json.error, /requireDryRunBeforeRun/);
  assert.deepEqual(p.stateFiles(), []);

  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  const planFile = planned.json.planPath;
  const original = fs.readFileSync(planFile, 'utf8');
  // A plan bound to another environment is refused, both named.
  const foreign = JSON.parse(original);
  foreign.environment = { fingerprint: '0123456789abcdef', url: 'http://prod-ch:8123', database: 'app' };
  fs.writeFileSync(planFile, JSON.stringify(foreign, null, 2));
  const env = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(env.code, 2);
  assert.match(env.json.error, /made for http:\/\/prod-ch:8123.*configured environment is chdb:/);
  assert.ok(!p.stateFiles().some((f) => f.startsWith('runs/') || f.startsWith('events/')), 'nothing written');
  fs.writeFileSync(planFile, original);

  // Cancel with no live process marks the run cancelled; run refuses, resume continues and says so.
  const c = p.cli(['cancel', '--plan-id', planned.json.planId]);
  assert.equal(c.code, 0, c.stdout);
  assert.equal(c.json.status, 'cancelled');
  const refused = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(refused.code, 2);
  assert.match(refused.json.error, /was cancelled.*resume/);
  const resumed = p.cli(['resume', '--plan-id', planned.json.planId]);
  assert.equal(resumed.code, 0, resumed.stdout);
  assert.equal(resumed.json.status, 'completed');
  assert.ok(resumed.json.notes.some((n) => /resuming a cancelled run/.test(n)));

  // Options that change data since the checkpoint need --force-compatibility.
  const cfg = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"timeColumn":"event_time"', '"timeColumn":"event_time","requireIdempotencyToken":false'));
  const incompatible = p.cli(['run', '--plan-id', planned.json.planId, '--replay-done']);
  assert.equal(incompatible.code, 2, incompatible.stdout);
  assert.match(incompatible.json.error, /changed since the checkpoint/);
  const forced = p.cli(['run', '--plan-id', planned.json.planId, '--replay-done', '--force-compatibility']);
  assert.equal(forced.code, 0, forced.stdout);
});

test('requireDryRunBeforeRun: false lets run plan implicitly and prints the plan id', async (t) => {
  const p = createProject({ options: opts({ rest: { policy: { requireDryRunBeforeRun: false } } }) });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 6, rowsPerHour: 10 });
  const r = p.cli(['run', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T06:00:00Z'], { text: true });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const id = /Planned ([0-9a-f]{16}) \(implicit plan\)/.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  assert.match(r.stdout, /Completed/);
  const s = p.cli(['status', '--plan-id', id]);
  assert.equal(s.json.status, 'completed');
  assert.equal(s.json.rowsWritten, 60);
  const both = p.cli(['run', '--plan-id', id, '--target', 'app.events']);
  assert.equal(both.code, 2);

  // A plan made earlier by `plan`: the implicit run uses that stored plan (its createdAt), so
  // the checkpoint's compatibility token is the one `resume` and `doctor` compute from the file.
  const flags = ['--target', 'app.events', '--from', '2025-01-01T06:00:00Z', '--to', '2025-01-01T12:00:00Z'];
  await seedEvents(p, { from: '2025-01-01 06:00:00', hours: 6, rowsPerHour: 10 });
  const planned = p.cli(['plan', ...flags]);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const ran = p.cli(['run', ...flags]);
  assert.equal(ran.code, 0, ran.stdout + ran.stderr);
  assert.equal(ran.json.planId, planned.json.planId);
  const d = p.cli(['doctor', '--plan-id', planned.json.planId]);
  assert.deepEqual(d.json.issues.filter((i) => i.code === 'compatibility_changed'), []);
});

test('bad input exits 2 with one line and writes nothing', async (t) => {
  const p = createProject({ options: opts() });
  t.after(p.cleanup);
  for (const [args, re] of [
    [['run'], /missing --plan-id/],
    [['run', '--plan-id', '../etc'], /not a plan id/],
    [['run', '--plan-id', '0123456789abcdef'], /no plan 0123456789abcdef/],
    [['status'], /missing --plan-id/],
    [['resume', '--plan-id', 'zz'], /not a plan id/],
    [['cancel', '--plan-id', '0123456789abcdef'], /no plan/],
  ]) {
    const r = p.cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.json.error, re);
    assert.doesNotMatch(r.json.error, /\n/);
  }
  assert.deepEqual(p.stateFiles(), []);
});

test('maxParallelChunks 4: chunks really overlap, and the result equals the sequential run', async (t) => {
  const results = [];
  for (const parallel of [1, 4]) {
    const p = createProject({ options: opts({ defaults: { chunkHours: 0.25, maxParallelChunks: parallel } }) });
    t.after(p.cleanup);
    await seedEvents(p, { hours: 12, rowsPerHour: 40 });
    // A view fed by each insert slows every chunk down a little, so overlap is visible.
    await p.exec('CREATE TABLE app.sink (s UInt8) ENGINE = Null', 'CREATE MATERIALIZED VIEW app.slow TO app.sink AS SELECT sleepEachRow(0.002) AS s FROM app.events');
    const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
    const r = p.cli(['run', '--plan-id', planned.json.planId]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    let running = 0;
    let peak = 0;
    // Statements in flight: from a chunk's start to its INSERT's return (its window is counted later, with others').
    for (const e of fs.readFileSync(r.json.eventPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l))) {
      if (e.event === 'chunk_started') peak = Math.max(peak, ++running);
      if (['chunk_inserted', 'chunk_failed', 'chunk_skipped', 'chunk_interrupted'].includes(e.event)) running--;
    }
    assert.equal(peak, parallel, `up to ${parallel} chunks at once`);
    const rows = await p.rows(
      `SELECT toStartOfFifteenMinutes(event_time) AS k, count() AS c, toString(sum(cityHash64(event_time, user_id, kind, value))) AS h
       FROM app.events GROUP BY k ORDER BY k`,
    );
    results.push({ rows, rowsWritten: r.json.rowsWritten, counts: r.json.chunkCounts });
  }
  assert.equal(results[0].rows.length, 48);
  assert.deepEqual(results[1], results[0]);
});

test('a torn last event line and a corrupt snapshot: detected, reported, rebuilt from the log, never replaced by a fresh state', async (t) => {
  const p = createProject({ options: opts() });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 12, rowsPerHour: 10 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0);
  fs.appendFileSync(r.json.eventPath, '{"seq":999,"at":1,"event":"chunk_sta');
  fs.writeFileSync(r.json.runPath, '{"version":1,"planId":');
  const s = p.cli(['status', '--plan-id', planned.json.planId]);
  assert.equal(s.code, 0, s.stdout);
  assert.equal(s.json.status, 'completed');
  assert.equal(s.json.rowsWritten, 120);
  assert.equal(s.json.tornTail, true);
  assert.equal(s.json.snapshotRebuilt, true);
  // A bad line in the middle of the log is an error, not a fresh start.
  const good = fs.readFileSync(r.json.eventPath, 'utf8');
  fs.writeFileSync(r.json.eventPath, good.replace('"event":"chunk_started"', '"event":"chunk_startxd"'));
  const bad = p.cli(['run', '--plan-id', planned.json.planId, '--replay-done']);
  assert.equal(bad.code, 1, bad.stdout);
  assert.match(bad.json.error, /event log line at byte \d+ is not a valid event/);
  fs.writeFileSync(r.json.eventPath, good);
  const again = p.cli(['run', '--plan-id', planned.json.planId, '--replay-done']);
  assert.equal(again.code, 0, again.stdout);
  const lines = fs.readFileSync(r.json.eventPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((e) => e.event === 'note' && /torn/.test(e.message)));
  assert.ok(lines.some((e) => e.event === 'note' && /snapshot was unreadable/.test(e.message)));
  assert.equal(p.cli(['status', '--plan-id', planned.json.planId]).json.rowsWritten, 120 + 240, 'the replay re-inserts the doubled window');
});

test('replaying done chunks on either side of a long failed stretch counts each side at the start, not the stretch between', async (t) => {
  const p = createProject({ options: opts({ defaults: { chunkHours: 1, maxRetriesPerChunk: 1 } }) });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24, rowsPerHour: 30 });
  const hours = (a, b) => `(event_time >= toDateTime('2025-01-01 ${String(a).padStart(2, '0')}:00:00', 'UTC') AND event_time < toDateTime('2025-01-01 ${String(b).padStart(2, '0')}:00:00', 'UTC'))`;
  // Inserts into 05:00–15:00 violate a constraint: those ten chunks fail, the others complete.
  await p.exec(`ALTER TABLE app.events ADD CONSTRAINT not_now CHECK NOT ${hours(5, 15)}`);
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(planned.code, 0, planned.stdout);
  const first = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(first.code, 1, first.stdout);
  assert.deepEqual([first.json.chunkCounts.done, first.json.chunkCounts.failed], [14, 10]);
  await p.exec('ALTER TABLE app.events DROP CONSTRAINT not_now');
  const log = first.json.eventPath;
  const cut = fs.readFileSync(log, 'utf8').length;
  const again = p.cli(['resume', '--plan-id', planned.json.planId, '--replay-done', '--replay-failed']);
  assert.equal(again.code, 0, again.stdout);
  assert.equal(again.json.status, 'completed');
  const after = fs.readFileSync(log, 'utf8').slice(cut).trim().split('\n').map((l) => JSON.parse(l));
  const grids = after.filter((e) => e.event === 'windows_measured').map((e) => e.chunks);
  assert.deepEqual(grids, [[0, 1, 2, 3, 4], [15, 16, 17, 18, 19, 20, 21, 22, 23]], 'a count of each side');
  // Done chunks were doubled by the first run and again by the replay; the failed ones once.
  const [c] = await p.rows(`SELECT countIf(${hours(0, 5)}) AS a, countIf(${hours(5, 15)}) AS b, countIf(NOT ${hours(0, 15)}) AS c FROM app.events`);
  assert.deepEqual([Number(c.a), Number(c.b), Number(c.c)], [5 * 120, 10 * 60, 9 * 120]);
});
