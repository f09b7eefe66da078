// Advice the run and `doctor` print, followed as written (the repair steps as a data
// engineer would do them), in the state that produces it; then every window is checked
// exact. Faults are injected by attempt (the run marks each statement with its query id)
// or by a kill after a given event, never by a clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, MINUTE_ROWS } from './helpers/project.mjs';

const fingerprint = (t, where = '1') => `SELECT count() AS c, toString(sum(cityHash64(*))) AS h FROM ${t} WHERE ${where}`;
const events = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

async function waitFor(fn, what) {
  for (let i = 0; i < 2400; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** True while attempt `n` of some chunk's statement `s` runs (its query id marks it). */
const inAttempt = (n, s = 0) => `(SELECT count() FROM system.processes WHERE match(query, '^/\\\\* chkit-backfill qid=\\\\S+-a${n}-s${s} \\\\*/')) > 0`;

/** The command a message names, as written (`resume --plan-id … --replay-failed`). */
function named(message, re) {
  const m = message.match(re);
  assert.ok(m, `expected ${re} in: ${message}`);
  return m[0].split(' ');
}

test('"something else writes to the window; repair it, then resume with --replay-failed": deleting the extra rows and replaying leaves the window exact', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 3, maxRetriesPerChunk: 1 } } });
  t.after(p.cleanup);
  await p.exec(
    ...MINUTE_ROWS,
    // While a first attempt's INSERT runs, five foreign rows appear in chunk 3's window: after the
    // window was measured, before it is counted again.
    `CREATE VIEW app.src AS SELECT event_time, user_id FROM app.base
     UNION ALL SELECT toDateTime('2025-01-01 07:00:00', 'UTC') AS event_time, toUInt64(999999) AS user_id FROM numbers(5) WHERE ${inAttempt(1)}`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const planId = planned.json.planId;
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json.chunksNeedingOperator, 1);
  assert.match(r.json.lastError.message, /gained 185 rows where one execution adds 180: something else writes to the window/);
  const replay = named(r.json.lastError.message, /resume with --replay-failed/);
  // The repair: the rows that are not the chunk's go.
  await p.exec('ALTER TABLE app.events DELETE WHERE user_id = 999999 SETTINGS mutations_sync = 2');
  const again = p.cli([replay[0], '--plan-id', planId, replay[2]]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json.chunkCounts.done, 4);
  assert.deepEqual(await p.rows(fingerprint('app.events')), await p.rows(fingerprint('app.base')), 'every row once');
});

test('"the window holds N rows … repair the window, then resume with --replay-failed" before a retry: deleting the foreign rows and replaying is exact', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 3, maxRetriesPerChunk: 1 } } });
  t.after(p.cleanup);
  await p.exec(
    ...MINUTE_ROWS,
    // Chunk 3's first attempt fails with a server error.
    `CREATE VIEW app.src AS SELECT event_time, user_id + throwIf(event_time >= toDateTime('2025-01-01 06:00:00', 'UTC')
       AND event_time < toDateTime('2025-01-01 09:00:00', 'UTC') AND ${inAttempt(1)}, 'simulated overload', toInt32(202)) AS user_id
     FROM app.base SETTINGS allow_custom_error_code_in_throwif = 1`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  const planId = planned.json.planId;
  assert.equal(p.cli(['run', '--plan-id', planId]).code, 1);
  // Something else writes into its window before the retry.
  await p.exec("INSERT INTO app.events SELECT toDateTime('2025-01-01 07:00:00', 'UTC'), 999999 FROM numbers(5)");
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json.chunksNeedingOperator, 1);
  assert.match(r.json.lastError.message, /the window holds 5 rows in the target; before the first attempt it held 0/);
  const replay = named(r.json.lastError.message, /resume with --replay-failed/);
  await p.exec('ALTER TABLE app.events DELETE WHERE user_id = 999999 SETTINGS mutations_sync = 2');
  const again = p.cli([replay[0], '--plan-id', planId, replay[2]]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(await p.rows(fingerprint('app.events')), await p.rows(fingerprint('app.base')), 'every row once');
});

test('"interrupted in statement k of n … check the targets, then resume with --replay-failed" (two views into one target, killed between them): exact per view', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1, retryDelayMs: 10 } } });
  t.after(p.cleanup);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.events (event_time DateTime, value UInt64) ENGINE = MergeTree ORDER BY event_time',
    // No deduplication: a view fed twice is doubled.
    'CREATE TABLE app.agg (t DateTime, view String, n UInt64, v UInt64) ENGINE = MergeTree ORDER BY (t, view)',
    "CREATE MATERIALIZED VIEW app.agg_a TO app.agg AS SELECT toStartOfHour(event_time) AS t, 'a' AS view, count() AS n, sum(value) AS v FROM app.events GROUP BY t",
    // The second view is slow, so a kill after the first view's statement lands in the second.
    "CREATE MATERIALIZED VIEW app.agg_b TO app.agg AS SELECT toStartOfHour(event_time) AS t, 'b' AS view, count() AS n, sum(value + sleepEachRow(0.02)) AS v FROM app.events GROUP BY t",
    "INSERT INTO app.events SELECT toDateTime('2025-01-01', 'UTC') + number * 60, number FROM numbers(240) SETTINGS max_block_size = 10, min_insert_block_size_rows = 10",
  );
  const windows = 'SELECT toString(t) AS t, view, sum(n) AS n, sum(v) AS v FROM app.agg GROUP BY t, view ORDER BY t, view';
  const live = await p.rows(windows);
  await p.exec('TRUNCATE TABLE app.agg');
  const planned = p.cli(['plan', '--target', 'app.agg', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  assert.equal(planned.json.strategy, 'mv_replay');
  assert.equal(planned.json.statementsPerChunk, 2);
  const planId = planned.json.planId;
  const eventFile = path.join(p.stateDir, 'events', `${planId}.ndjson`);
  const child = p.spawnCli(['run', '--plan-id', planId, '--json']);
  await waitFor(() => events(eventFile).some((e) => e.event === 'statement_succeeded' && e.statement === 0), 'the first view of a chunk to finish');
  child.kill('SIGKILL');
  await child.done;
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json.chunksNeedingOperator, 1);
  assert.match(r.json.lastError.message, /interrupted in statement 2 of 2/);
  const replay = named(r.json.lastError.message, /resume with --replay-failed/);
  // "Check the targets": per window and view, what the live views wrote against what is there.
  // A view's rows that are there but not exact (a partial write) go; complete ones stay.
  const plan = JSON.parse(fs.readFileSync(planned.json.planPath, 'utf8'));
  const failed = p.cli(['status', '--plan-id', planId, '--chunks']).json.chunks.filter((c) => c.status === 'failed');
  assert.equal(failed.length, 1);
  const have = new Map((await p.rows(windows)).map((w) => [`${w.t}|${w.view}`, w]));
  for (const w of live) {
    const inFailed = failed.some((c) => Date.parse(c.from) <= Date.parse(`${w.t}Z`) && Date.parse(`${w.t}Z`) < Date.parse(c.to));
    const there = have.get(`${w.t}|${w.view}`);
    if (inFailed && there && JSON.stringify(there) !== JSON.stringify(w)) {
      await p.exec(`ALTER TABLE app.agg DELETE WHERE t = toDateTime('${w.t}', 'UTC') AND view = '${w.view}' SETTINGS mutations_sync = 2`);
    }
  }
  assert.ok(plan.chunks.length === 4);
  const again = p.cli([replay[0], '--plan-id', planId, replay[2]]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(await p.rows(windows), live, 'every window of every view once');
});

test('view_changed after a completed run into a deduplicating target: its advice, followed, leaves what the changed view writes, once', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  const view = (factor) =>
    `CREATE MATERIALIZED VIEW app.agg_mv TO app.agg AS SELECT toStartOfHour(event_time) AS t, count() AS n, sum(value * ${factor}) AS v FROM app.events GROUP BY t`;
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.events (event_time DateTime, value UInt64) ENGINE = MergeTree ORDER BY event_time',
    'CREATE TABLE app.agg (t DateTime, n UInt64, v UInt64) ENGINE = MergeTree ORDER BY t SETTINGS non_replicated_deduplication_window = 1000',
    "INSERT INTO app.events SELECT toDateTime('2025-01-01', 'UTC') + number * 60, number FROM numbers(240)",
  );
  await p.exec(view(1));
  const flags = ['plan', '--target', 'app.agg', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z'];
  const planned = p.cli(flags);
  assert.equal(planned.json?.strategy, 'mv_replay', planned.stdout + planned.stderr);
  const planId = planned.json.planId;
  assert.equal(p.cli(['run', '--plan-id', planId]).code, 0);
  // The view's query changes (same name, source and time column: the same plan id and tokens).
  await p.exec('DROP VIEW app.agg_mv', view(2));
  const d = p.cli(['doctor', '--plan-id', planId]).json;
  const issue = d.issues.find((i) => i.code === 'view_changed');
  assert.ok(issue, JSON.stringify(d.issues));
  assert.match(issue.message, /`plan --force` refuses/);
  // Followed as given: the windows to repair first, from its command.
  assert.equal(issue.command, `status --plan-id ${planId} --chunks`);
  const listed = p.cli(issue.command.split(' '));
  const applied = listed.json.chunks.filter((c) => c.status === 'done');
  assert.equal(applied.length, 4);
  for (const c of applied) {
    await p.exec(`ALTER TABLE app.agg DELETE WHERE t >= parseDateTimeBestEffort('${c.from}') AND t < parseDateTimeBestEffort('${c.to}') SETTINGS mutations_sync = 2`);
  }
  // Then its SQL (the target would drop the replay: same tokens), the plan it names, the run, and the setting back.
  assert.ok(issue.sql, 'turns deduplication off');
  await p.exec(issue.sql);
  assert.match(issue.message, /plan again with the flags it was made with, adding --force --discard-applied/);
  const again = p.cli([...flags, '--force', '--discard-applied']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json.planId, planId);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(issue.message, /set non_replicated_deduplication_window back to 1000/);
  await p.exec('ALTER TABLE app.agg MODIFY SETTING non_replicated_deduplication_window = 1000');
  const got = await p.rows('SELECT toString(t) AS t, sum(n) AS n, sum(v) AS v FROM app.agg GROUP BY t ORDER BY t');
  const want = await p.rows("SELECT toString(toStartOfHour(event_time)) AS t, count() AS n, sum(value * 2) AS v FROM app.events WHERE event_time < '2025-01-01 04:00:00' GROUP BY t ORDER BY t");
  assert.deepEqual(got, want, 'every window as the changed view writes it, once');
});
