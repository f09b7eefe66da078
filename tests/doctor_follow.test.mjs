// Every piece of advice `doctor` gives is followed here as given, in the state
// that produces it, and the data is checked exact afterwards (tests/doctor.test.mjs
// and tests/run.test.mjs follow the others).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents, slowCopyPlan } from './helpers/project.mjs';

function doctor(p, planId) {
  const r = p.cli(['doctor', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.json;
}

function issueOf(report, code) {
  const issue = report.issues.find((i) => i.code === code);
  assert.ok(issue, `expected ${code} in ${JSON.stringify(report.issues)}`);
  return issue;
}

/** Run the command `code` recommends, as given. */
function follow(p, report, code) {
  const issue = issueOf(report, code);
  assert.ok(issue.command, `${code} recommends a command`);
  const r = p.cli(issue.command.split(' '));
  assert.notEqual(r.code, 2, `${issue.command} was refused: ${r.stdout}${r.stderr}`);
  return r;
}

const fingerprint = (t) => `SELECT count() AS c, toString(sum(cityHash64(*))) AS h FROM ${t}`;

async function waitFor(fn, what) {
  for (let i = 0; i < 2400; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const succeeded = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').match(/"chunk_succeeded"/g)?.length ?? 0 : 0);

test('plan_not_started → run, as given: the window lands once', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.src', hours: 24 });
  await p.exec('CREATE TABLE app.events AS app.src');
  const planId = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-02']).json.planId;
  const r = follow(p, doctor(p, planId), 'plan_not_started');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(await p.rows(fingerprint('app.events')), await p.rows(fingerprint('app.src')));
});

test('run_orphaned (killed), run_paused (SIGTERM), run_active → the advice of each, as given: exact data', async (t) => {
  const { p, planId, eventFile } = await slowCopyPlan(t, { hours: 6, sleepPerRow: 0.01, defaults: { retryDelayMs: 10 } });
  // Killed mid-run: orphaned.
  let child = p.spawnCli(['run', '--plan-id', planId, '--json']);
  await waitFor(() => succeeded(eventFile) >= 1, 'a chunk to finish');
  child.kill('SIGKILL');
  await child.done;
  let r = follow(p, doctor(p, planId), 'run_orphaned');
  assert.equal(r.json?.status, 'completed', r.stdout + r.stderr);
  assert.deepEqual(await p.rows(fingerprint('app.events')), await p.rows(fingerprint('app.src_rows')));

  // Replayed from scratch into an emptied target (the applied run is discarded on purpose), stopped with SIGTERM: paused.
  await p.exec('TRUNCATE TABLE app.events');
  const again = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T06:00:00Z', '--force', '--discard-applied']);
  assert.equal(again.code, 0, again.stdout);
  child = p.spawnCli(['run', '--plan-id', planId, '--json']);
  await waitFor(() => succeeded(eventFile) >= 1, 'a chunk to finish');
  // While it runs, doctor points at status (which never opens the engine the run holds).
  const live = follow(p, doctor(p, planId), 'run_active');
  assert.equal(live.code, 0, live.stdout);
  child.kill('SIGTERM');
  await child.done;
  const d = doctor(p, planId);
  if (d.status === 'paused') {
    r = follow(p, d, 'run_paused');
    assert.equal(r.json?.status, 'completed', r.stdout + r.stderr);
  } else assert.equal(d.status, 'completed', 'the run finished before the signal reached it');
  assert.deepEqual(await p.rows(fingerprint('app.events')), await p.rows(fingerprint('app.src_rows')));
});

test('insert_dropped with a view reading from the target: the advice repairs the view\'s target before replaying, so nothing is doubled', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 3, maxRetriesPerChunk: 3, retryDelayMs: 10 } } });
  t.after(p.cleanup);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.base (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    "INSERT INTO app.base SELECT toDateTime('2025-01-01', 'UTC') + number * 60, number FROM numbers(720)",
    'CREATE TABLE app.events (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time SETTINGS non_replicated_deduplication_window = 100',
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.base', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout);
  const planId = planned.json.planId;
  const plan = JSON.parse(fs.readFileSync(path.join(p.stateDir, 'plans', `${planId}.json`), 'utf8'));
  // Chunk 3's token is already in the target's deduplication log (an earlier insert under it,
  // outside the window); a view reads from the target.
  await p.exec(
    `INSERT INTO app.events SELECT toDateTime('2030-01-01', 'UTC'), 0 SETTINGS insert_deduplication_token='${plan.chunks[2].idempotencyToken}'`,
    'CREATE TABLE app.fanout (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    'CREATE MATERIALIZED VIEW app.fanout_mv TO app.fanout AS SELECT event_time, user_id FROM app.events',
  );
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json.chunksNeedingOperator, 1);
  // The dropped insert still fed the view: its target holds chunk 3's rows, the target does not.
  const inChunk3 = "event_time >= '2025-01-01 06:00:00' AND event_time < '2025-01-01 09:00:00'";
  const [{ c: fed }] = await p.rows(`SELECT count() AS c FROM app.fanout WHERE ${inChunk3}`);
  assert.equal(Number(fed), 180);

  const d = doctor(p, planId);
  const issue = issueOf(d, 'insert_dropped');
  assert.match(issue.message, /app\.fanout_mv/);
  assert.match(issue.message, /already fed .* remove .* first/);
  // Followed as given: its command lists the windows to repair first; then its SQL, then the replay it names.
  const listed = follow(p, d, 'insert_dropped');
  assert.equal(listed.code, 0, listed.stdout);
  const chunks = listed.json.chunks.filter((c) => c.status === 'failed');
  assert.deepEqual(chunks.map((c) => [c.from, c.to]), [['2025-01-01T06:00:00.000Z', '2025-01-01T09:00:00.000Z']]);
  for (const c of chunks) {
    await p.exec(`ALTER TABLE app.fanout DELETE WHERE event_time >= parseDateTimeBestEffort('${c.from}') AND event_time < parseDateTimeBestEffort('${c.to}') SETTINGS mutations_sync = 2`);
  }
  await p.exec(issue.sql);
  const replayCommand = issue.message.match(/resume --plan-id \S+ --replay-failed/)?.[0];
  assert.ok(replayCommand, issue.message);
  const replay = p.cli(replayCommand.split(' '));
  assert.equal(replay.code, 0, replay.stdout + replay.stderr);
  await p.exec('ALTER TABLE app.events MODIFY SETTING non_replicated_deduplication_window = 100');
  const window = "event_time < '2030-01-01'";
  assert.deepEqual(await p.rows(`${fingerprint('app.events')} WHERE ${window}`), await p.rows(fingerprint('app.base')), 'the target holds the window once');
  assert.deepEqual(await p.rows(`${fingerprint('app.fanout')} WHERE ${window}`), await p.rows(fingerprint('app.base')), 'so does the view\'s target');
});

test('environment_mismatch on a plan never run → run --force-environment, as given: exact data', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.src', hours: 12 });
  await p.exec('CREATE TABLE app.events AS app.src');
  const planId = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']).json.planId;
  fs.renameSync(p.dataDir, path.join(p.dir, 'moved'));
  const cfg = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('chdb:./data', 'chdb:./moved'));
  const d = doctor(p, planId);
  assert.equal(issueOf(d, 'environment_mismatch').command, `run --plan-id ${planId} --force-environment`);
  const r = follow(p, d, 'environment_mismatch');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  fs.renameSync(path.join(p.dir, 'moved'), p.dataDir);
  assert.deepEqual(await p.rows(fingerprint('app.events')), await p.rows(fingerprint('app.src')));
});
