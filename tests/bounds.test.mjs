// Window bounds written for the time column's type (src/window.rs `BoundType`): against a
// `DateTime` column a plan writes `toDateTime('…', 'UTC')` bounds, which spare the engine a
// conversion of every row, and `toDateTime64(…)` against anything else. Checked on the real
// engine: both select the same rows on every DateTime form; plans choose per table; a column
// altered to DateTime64 after the plan is refused before anything is sent, and the advice
// then given runs exact; a plan an earlier version wrote (DateTime64 bounds) is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createProject } from './helpers/project.mjs';

function project(t, options = {}) {
  const p = createProject({ options: { defaults: { chunkHours: 6, retryDelayMs: 10 }, policy: { requireDryRunBeforeRun: false }, ...options } });
  t.after(p.cleanup);
  return p;
}

const planFile = (p, planId) => fs.readFileSync(`${p.stateDir}/plans/${planId}.json`, 'utf8');
const header = (p, planId) => JSON.parse(planFile(p, planId).split('\n')[0] + ']}');

test('on every DateTime form, DateTime bounds (a millisecond bound rounded up) select the rows DateTime64 bounds select', async (t) => {
  const p = project(t);
  // Rows on each side of both bounds, a second apart; the bounds as src/window.rs writes them.
  const bounds = [
    ["toDateTime('2025-01-01 06:00:00', 'UTC')", "toDateTime('2025-01-01 12:00:00', 'UTC')"],
    ["toDateTime64('2025-01-01 06:00:00.000', 3, 'UTC')", "toDateTime64('2025-01-01 12:00:00.000', 3, 'UTC')"],
  ];
  const msBounds = [
    ["toDateTime('2025-01-01 06:00:01', 'UTC')", "toDateTime('2025-01-01 12:00:01', 'UTC')"],
    ["toDateTime64('2025-01-01 06:00:00.250', 3, 'UTC')", "toDateTime64('2025-01-01 12:00:00.750', 3, 'UTC')"],
  ];
  const forms = [
    ['DateTime', 'ORDER BY t'],
    ["DateTime('Asia/Tokyo')", 'ORDER BY t'],
    ["DateTime('America/New_York')", 'PARTITION BY toYYYYMMDD(t) ORDER BY (toStartOfHour(t), v)'],
    ["Nullable(DateTime('UTC'))", 'ORDER BY v SETTINGS allow_nullable_key = 1'],
    ['DateTime', 'ORDER BY v'],
  ];
  await p.exec('CREATE DATABASE app');
  for (const [k, [type, key]] of forms.entries()) {
    await p.exec(
      `CREATE TABLE app.t${k} (t ${type}, v UInt64) ENGINE = MergeTree ${key}`,
      // Every second from 05:59:58 to 06:00:03 and from 11:59:58 to 12:00:03, and one row a minute all day.
      `INSERT INTO app.t${k} SELECT toDateTime('2025-01-01 05:59:58', 'UTC') + number, number FROM numbers(6)`,
      `INSERT INTO app.t${k} SELECT toDateTime('2025-01-01 11:59:58', 'UTC') + number, 100 + number FROM numbers(6)`,
      `INSERT INTO app.t${k} SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + number * 60, 1000 + number FROM numbers(1440)`,
    );
    for (const pair of [bounds, msBounds]) {
      const [asDateTime, asDateTime64] = await Promise.all(
        pair.map(async ([from, to]) => (await p.rows(`SELECT count() AS c, toString(sum(v)) AS s, toString(min(t)) AS lo, toString(max(t)) AS hi FROM app.t${k} WHERE t >= ${from} AND t < ${to}`))[0]),
      );
      assert.deepEqual(asDateTime, asDateTime64, `${type} ${key}: ${pair[0].join(' … ')}`);
      assert.ok(Number(asDateTime.c) > 360, `${type}: the window holds rows (${asDateTime.c})`);
    }
  }
});

test('plans write DateTime bounds where every table compares a DateTime, DateTime64 bounds elsewhere; each runs exact', async (t) => {
  const p = project(t);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.src (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    "INSERT INTO app.src SELECT toDateTime('2025-01-01', 'UTC') + number * 7, number FROM numbers(24686)",
    "CREATE TABLE app.dt (event_time DateTime('UTC'), user_id UInt64) ENGINE = MergeTree ORDER BY event_time",
    'CREATE TABLE app.dt64 (event_time DateTime64(3), user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    'CREATE TABLE app.hourly (hour DateTime, n UInt64, s UInt64) ENGINE = SummingMergeTree ORDER BY hour',
    'CREATE MATERIALIZED VIEW app.hourly_mv TO app.hourly AS SELECT toStartOfHour(event_time) AS hour, count() AS n, sum(user_id) AS s FROM app.src GROUP BY hour',
  );
  const window = ['--from', '2025-01-01', '--to', '2025-01-02T12:00:00Z'];
  const cases = [
    { args: ['--target', 'app.dt', '--source', 'app.src'], bound: 'DateTime', table: 'app.dt' },
    // The copy's WHERE reads a DateTime, but the run counts the target's DateTime64 windows.
    { args: ['--target', 'app.dt64', '--source', 'app.src'], bound: undefined, table: 'app.dt64' },
  ];
  const expected = (await p.rows("SELECT count() AS c, toString(sum(user_id)) AS s FROM app.src WHERE event_time < toDateTime('2025-01-02 12:00:00', 'UTC')"))[0];
  for (const c of cases) {
    const planned = p.cli(['plan', ...c.args, '--time-column', 'event_time', ...window]);
    assert.equal(planned.code, 0, planned.stdout + planned.stderr);
    const h = header(p, planned.json.planId);
    assert.equal(h.boundType, c.bound, c.table);
    const sql = JSON.parse(planFile(p, planned.json.planId).split('\n')[1].replace(/,$/, '')).sqlTemplate;
    assert.match(sql, c.bound ? /`event_time` >= toDateTime\('2025-01-01 00:00:00', 'UTC'\) AND `event_time` < toDateTime\('2025-01-01 06:00:00', 'UTC'\)/ : /toDateTime64\('2025-01-01 00:00:00\.000', 3, 'UTC'\)/, sql);
    const r = p.cli(['run', '--plan-id', planned.json.planId]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json.status, 'completed');
    assert.deepEqual((await p.rows(`SELECT count() AS c, toString(sum(user_id)) AS s FROM ${c.table}`))[0], expected, `${c.table}: every row once`);
  }

  // mv_replay: the view's source is a DateTime.
  const planned = p.cli(['plan', '--target', 'app.hourly', ...window]);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const h = header(p, planned.json.planId);
  assert.equal(h.views[0].boundType, 'DateTime');
  assert.equal(h.boundType, undefined, 'an mv_replay plan bounds per view');
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(
    await p.rows('SELECT toString(hour) AS h, toString(sum(n)) AS n, toString(sum(s)) AS s FROM app.hourly GROUP BY h ORDER BY h'),
    await p.rows("SELECT toString(toStartOfHour(event_time)) AS h, toString(count()) AS n, toString(sum(user_id)) AS s FROM app.src WHERE event_time < toDateTime('2025-01-02 12:00:00', 'UTC') GROUP BY h ORDER BY h"),
  );
  const v = p.cli(['verify', '--plan-id', planned.json.planId]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(v.json.ok, true, v.stdout);
});

/** app.src (DateTime, 12,343 rows over a day) copied into an empty app.dst of the same columns: planned. */
async function copyPlan(t) {
  const p = project(t);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.src (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    "INSERT INTO app.src SELECT toDateTime('2025-01-01', 'UTC') + number * 7, number FROM numbers(12343)",
    'CREATE TABLE app.dst (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
  );
  const args = ['--target', 'app.dst', '--source', 'app.src', '--time-column', 'event_time', '--from', '2025-01-01', '--to', '2025-01-02'];
  const planned = p.cli(['plan', ...args]);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  return { p, args, planned };
}

test('a time column that became DateTime64 after the plan: run refuses before sending anything, and the advice given runs exact', async (t) => {
  const { p, args, planned } = await copyPlan(t);
  assert.equal(header(p, planned.json.planId).boundType, 'DateTime');
  // A migration recreates the source with millisecond times (rows between whole seconds too).
  await p.exec(
    'DROP TABLE app.src',
    'CREATE TABLE app.src (event_time DateTime64(3), user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
    "INSERT INTO app.src SELECT toDateTime64('2025-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(number * 6999 + 999), number FROM numbers(12343)",
  );
  const refused = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.equal(refused.json.code, 'time_column_changed');
  assert.match(refused.json.error, /app\.src\.event_time was a DateTime .* now DateTime64\(3\).*make the plan again with the same flags \(--force replaces this one\)/);
  assert.equal(Number((await p.rows('SELECT count() AS c FROM app.dst'))[0].c), 0, 'nothing inserted');
  assert.ok(!p.stateFiles().some((f) => f.startsWith('events/')), 'no event log');

  // The advice: plan again with the same flags and --force.
  const again = p.cli(['plan', ...args, '--force']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(header(p, again.json.planId).boundType, undefined, 'DateTime64 bounds now');
  const r = p.cli(['run', '--plan-id', again.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const q = (table) => `SELECT count() AS c, toString(sum(user_id)) AS s FROM ${table} WHERE event_time < toDateTime64('2025-01-02 00:00:00', 3, 'UTC')`;
  assert.deepEqual(await p.rows(q('app.dst')), await p.rows(q('app.src')), 'every row of the window exactly once');
  assert.equal(r.json.rowsWritten, 12343);
});

test('a plan an earlier version wrote with DateTime64 bounds is kept by a re-plan of the same flags, and runs', async (t) => {
  const { p, args, planned } = await copyPlan(t);
  const file = `${p.stateDir}/plans/${planned.json.planId}.json`;
  // As the earlier version wrote it: no boundType, every bound a DateTime64 of milliseconds.
  const legacy = fs
    .readFileSync(file, 'utf8')
    .replace(',"boundType":"DateTime"', '')
    .replace(/toDateTime\('(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', 'UTC'\)/g, "toDateTime64('$1.000', 3, 'UTC')");
  assert.ok(!legacy.includes('boundType') && !legacy.includes("toDateTime('"), 'the file is rewritten as before');
  fs.writeFileSync(file, legacy);

  const again = p.cli(['plan', ...args]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json.existed, true, again.stdout);
  assert.equal(fs.readFileSync(file, 'utf8'), legacy, 'the plan stays as it was');
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.rowsWritten, 12343);
  // Another window is another plan, not a conflict with this one.
  assert.equal(p.cli(['plan', ...args.slice(0, -1), '2025-01-01T12:00:00Z']).code, 0);
});
