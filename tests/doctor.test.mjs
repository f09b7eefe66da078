// doctor on real states of a plan, and every command it recommends is one the
// tool accepts in that state: the test runs each recommendation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';

const FROM = '2025-01-01';
const TO = '2025-01-02';

function doctor(p, planId) {
  const r = p.cli(['doctor', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.json;
}

/** Run the recommendation of `code` and return its result. */
function follow(p, report, code) {
  const issue = report.issues.find((i) => i.code === code);
  assert.ok(issue, `expected ${code} in ${JSON.stringify(report.issues)}`);
  assert.ok(issue.command, `${code} recommends a command`);
  const r = p.cli(issue.command.split(' '));
  assert.notEqual(r.code, 2, `${issue.command} was refused: ${r.stdout}${r.stderr}`);
  return r;
}

function project(t, options = {}) {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6, retryDelayMs: 10, ...options } } });
  t.after(p.cleanup);
  return p;
}

test('planned → run; failed → resume; completed → healthy; text names the command', async (t) => {
  const p = project(t, { maxRetriesPerChunk: 1 });
  await seedEvents(p, { hours: 24, settings: 'SETTINGS non_replicated_deduplication_window = 100' });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', FROM, '--to', TO]).json;
  let d = doctor(p, plan.planId);
  assert.equal(d.status, 'planned');
  assert.deepEqual(d.issues.map((i) => i.code), ['plan_not_started', 'server_version']);
  const text = p.cli(['doctor', '--plan-id', plan.planId], { text: true }).stdout;
  assert.match(text, new RegExp(`→ chkit-backfill run --plan-id ${plan.planId}`));

  // The target disappears mid-way: every chunk fails at once (UNKNOWN_TABLE is not retryable).
  await p.exec('RENAME TABLE app.events TO app.events_away');
  const failed = p.cli(['run', '--plan-id', plan.planId]);
  assert.equal(failed.code, 1);
  await p.exec('RENAME TABLE app.events_away TO app.events');
  d = doctor(p, plan.planId);
  assert.equal(d.healthy, false);
  assert.deepEqual(d.issues.map((i) => i.code), ['chunks_failed', 'server_version']);
  assert.match(d.issues[0].message, /4 chunk\(s\) failed after all retries; last error: .*events/);
  const resumed = follow(p, d, 'chunks_failed');
  assert.equal(resumed.code, 0, resumed.stdout);
  assert.equal(resumed.json.status, 'completed');
  d = doctor(p, plan.planId);
  assert.equal(d.healthy, true);
  assert.deepEqual(d.issues.map((i) => i.code), ['server_version']);
});

test('a target that ignores tokens gets the SQL that makes it honour them', async (t) => {
  const p = project(t);
  await seedEvents(p, { hours: 12 });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', FROM, '--to', '2025-01-01T12:00:00Z']).json;
  const d = doctor(p, plan.planId);
  const issue = d.issues.find((i) => i.code === 'tokens_ignored');
  assert.ok(issue, JSON.stringify(d.issues));
  assert.equal(issue.sql, 'ALTER TABLE `app`.`events` MODIFY SETTING non_replicated_deduplication_window = 1000');
  await p.exec(issue.sql);
  assert.ok(!doctor(p, plan.planId).issues.some((i) => i.code === 'tokens_ignored'));
});

test('a target whose merges collapse rows: doctor says the row-count check cannot be trusted', async (t) => {
  const p = project(t);
  await p.exec(
    'CREATE DATABASE IF NOT EXISTS app',
    `CREATE TABLE app.latest (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64)
     ENGINE = ReplacingMergeTree ORDER BY (user_id, event_time) SETTINGS non_replicated_deduplication_window = 1000`,
  );
  const plan = p.cli(['plan', '--target', 'app.latest', '--from', FROM, '--to', '2025-01-01T12:00:00Z']).json;
  const d = doctor(p, plan.planId);
  const issue = d.issues.find((i) => i.code === 'row_count_check_unreliable');
  assert.ok(issue, JSON.stringify(d.issues));
  assert.equal(issue.severity, 'warn');
  assert.match(issue.message, /app\.latest \(ReplacingMergeTree\) merges rows/);
  assert.equal(d.healthy, true, 'a warning, not an error');
});

test('cancelled and killed runs → resume; changed data options → resume --force-compatibility', async (t) => {
  const p = project(t, { chunkHours: 0.25 });
  await seedEvents(p, { table: 'app.src_rows', hours: 6, rowsPerHour: 40 });
  await p.exec(
    // Slow reads so that a kill lands mid-run.
    `CREATE VIEW app.src AS SELECT event_time, user_id, kind, value + sleepEachRow(0.01) AS value FROM app.src_rows`,
    `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64)
     ENGINE = MergeTree ORDER BY (event_time, user_id) SETTINGS non_replicated_deduplication_window = 1000`,
  );
  const plan = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', FROM, '--to', '2025-01-01T06:00:00Z']).json;
  assert.equal(plan.chunkCount, 24);

  const child = p.spawnCli(['run', '--plan-id', plan.planId, '--json']);
  const events = path.join(p.stateDir, 'events', `${plan.planId}.ndjson`);
  for (let i = 0; !(fs.existsSync(events) && /chunk_succeeded/.test(fs.readFileSync(events, 'utf8'))); i++) {
    assert.ok(i < 2400, 'a chunk finished within two minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  await child.done;
  let d = doctor(p, plan.planId);
  assert.equal(d.status, 'running');
  assert.deepEqual(d.issues.map((i) => i.code).filter((c) => c !== 'server_version'), ['run_orphaned']);

  // Operator gives up on it: cancel without a live process, then changes their mind.
  assert.equal(p.cli(['cancel', '--plan-id', plan.planId]).code, 0);
  d = doctor(p, plan.planId);
  assert.equal(d.status, 'cancelled');
  assert.ok(d.issues.some((i) => i.code === 'run_cancelled'));

  // A data option changed since the checkpoint.
  const cfg = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"requireIdempotencyToken"', '"x"').replace('"timeColumn":"event_time"', '"timeColumn":"event_time","requireIdempotencyToken":true'));
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"timeColumn":"event_time"', '"timeColumn":"other_time"'));
  d = doctor(p, plan.planId);
  const compat = d.issues.find((i) => i.code === 'compatibility_changed');
  assert.ok(compat, JSON.stringify(d.issues));
  assert.equal(p.cli(['resume', '--plan-id', plan.planId]).code, 2, 'plain resume is refused');
  const r = follow(p, d, 'compatibility_changed');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  const [{ c }] = await p.rows(`SELECT count() AS c FROM app.events`);
  const [{ s }] = await p.rows(`SELECT count() AS s FROM app.src_rows WHERE event_time < '2025-01-01 06:00:00'`);
  assert.equal(Number(c), Number(s), 'every source row landed once');
});

test('a plan bound to another environment → resume --force-environment', async (t) => {
  const p = project(t);
  await seedEvents(p, { hours: 12, settings: 'SETTINGS non_replicated_deduplication_window = 100' });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', FROM, '--to', '2025-01-01T12:00:00Z']).json;
  assert.equal(p.cli(['run', '--plan-id', plan.planId]).code, 0);
  // The data directory moves: the configured environment is no longer the plan's.
  fs.renameSync(p.dataDir, path.join(p.dir, 'moved'));
  const cfg = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace("chdb:./data", 'chdb:./moved'));
  const d = doctor(p, plan.planId);
  const env = d.issues.find((i) => i.code === 'environment_mismatch');
  assert.ok(env, JSON.stringify(d.issues));
  assert.match(env.message, /chdb:.*\/data \(database app\).*chdb:.*\/moved \(database app\)/);
  assert.equal(env.command, `resume --plan-id ${plan.planId} --force-environment`);
  const r = follow(p, d, 'environment_mismatch');
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('mv_replay: doctor notices when the server\'s view no longer matches the plan, or is gone', async (t) => {
  const p = project(t);
  await p.exec(
    'CREATE DATABASE IF NOT EXISTS app',
    `CREATE TABLE app.src (event_time DateTime, kind String, v UInt64) ENGINE = MergeTree ORDER BY event_time`,
    `CREATE TABLE app.hourly (hour DateTime, kind String, n UInt64) ENGINE = SummingMergeTree ORDER BY (hour, kind)
     SETTINGS non_replicated_deduplication_window = 100`,
    `CREATE MATERIALIZED VIEW app.hourly_mv TO app.hourly AS SELECT toStartOfHour(event_time) AS hour, kind, count() AS n FROM app.src GROUP BY hour, kind`,
  );
  const plan = p.cli(['plan', '--target', 'app.hourly', '--from', FROM, '--to', TO]).json;
  assert.equal(plan.strategy, 'mv_replay');
  let d = doctor(p, plan.planId);
  assert.deepEqual(d.issues.map((i) => i.code), ['plan_not_started', 'server_version']);

  await p.exec(
    'DROP VIEW app.hourly_mv',
    `CREATE MATERIALIZED VIEW app.hourly_mv TO app.hourly AS SELECT toStartOfHour(event_time) AS hour, kind, count() AS n FROM app.src WHERE v > 0 GROUP BY hour, kind`,
  );
  d = doctor(p, plan.planId);
  const changed = d.issues.find((i) => i.code === 'view_changed');
  assert.ok(changed, JSON.stringify(d.issues));
  assert.match(changed.message, /view app\.hourly_mv on the server no longer matches the plan; no chunk of it was applied: plan again with the flags it was made with, adding --force/);
  assert.equal(d.healthy, false);

  await p.exec('DROP VIEW app.hourly_mv');
  d = doctor(p, plan.planId);
  assert.deepEqual(d.issues.filter((i) => i.code.startsWith('view_')).map((i) => [i.code, i.message]), [
    ['view_missing', 'view app.hourly_mv of the plan is gone from the server'],
  ]);
  assert.deepEqual(p.stateFiles(), [`plans/${plan.planId}.json`], 'doctor writes nothing');
});
