// The rows an mv_replay INSERT wrote on the embedded engine, read off the engine's own counters
// (system.events) instead of system.parts: first what the counters say against what the parts
// say, insert by insert on the real engine; then whole runs whose rows per chunk are known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { insertCounters, insertCountersSql, partsAfterSql, partsMaxBlockSql, partsRowsAfter, rowsFromCounters } from '../dist/core/core.js';
import { createProject, seedEvents } from './helpers/project.mjs';

test('the engine counters say what one INSERT wrote, as its parts do, or that they cannot tell', async (t) => {
  const p = createProject();
  t.after(p.cleanup);
  await p.withDb(async (db) => {
    const counters = async () => insertCounters((await db.rows(insertCountersSql())).map((r) => ({ event: r.event, value: Number(r.value) })));
    /** One INSERT into `table`, measured by both: the counters around it and the parts it made. */
    const both = async (table, sql) => {
      const t = { database: 'app', table };
      const before = await counters();
      const top = Number((await db.rows(partsMaxBlockSql(t)))[0]?.c ?? 0);
      await db.exec(sql);
      const after = await counters();
      const parts = (await db.rows(partsAfterSql(t, top))).map((r) => ({ b: Number(r.b), e: Number(r.e), r: Number(r.r), l: Number(r.l) }));
      return { counted: rowsFromCounters(before, after), parts: partsRowsAfter(parts, top).c };
    };
    const sameAsParts = (m, rows, what) => {
      assert.deepEqual(m.counted, { kind: 'rows', rows }, what);
      assert.equal(m.parts, rows, `${what}: the parts agree`);
    };
    await db.exec('CREATE DATABASE app');
    await db.exec('CREATE TABLE app.src (t DateTime, k UInt8) ENGINE = MergeTree ORDER BY t');
    await db.exec("INSERT INTO app.src SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + number * 60, number % 3 FROM numbers(2880)");
    await db.exec('CREATE TABLE app.daily (t DateTime, k UInt8) ENGINE = MergeTree PARTITION BY toDate(t) ORDER BY t SETTINGS non_replicated_deduplication_window = 100');
    const token = (tk) => `SETTINGS insert_deduplicate = 1, insert_deduplication_token = '${tk}'`;

    sameAsParts(await both('daily', `INSERT INTO app.daily ${token('a')} SELECT * FROM app.src`), 2880, 'two partitions, two parts');
    sameAsParts(await both('daily', `INSERT INTO app.daily ${token('a')} SELECT * FROM app.src`), 0, 'the same token again: every block dropped');
    sameAsParts(
      await both('daily', `INSERT INTO app.daily ${token('b')} SELECT * FROM app.src SETTINGS max_insert_block_size = 100, min_insert_block_size_rows = 100, min_insert_block_size_bytes = 0`),
      2880,
      'many blocks',
    );
    sameAsParts(await both('daily', 'INSERT INTO app.daily SELECT * FROM app.src WHERE k > 5'), 0, 'a SELECT of no rows');

    // Merging on insert folds rows with one key: the rows written, not the rows sent.
    await db.exec('CREATE TABLE app.hourly (h DateTime, n UInt64) ENGINE = SummingMergeTree ORDER BY h SETTINGS non_replicated_deduplication_window = 100');
    sameAsParts(await both('hourly', `INSERT INTO app.hourly ${token('c')} SELECT toStartOfHour(t), 1 FROM app.src`), 48, 'folded on insert: 48 hours of 2880 rows');

    // A view reading from the table: the counters add its rows to the table's.
    await db.exec('CREATE TABLE app.per_day (d Date, n UInt64) ENGINE = SummingMergeTree ORDER BY d');
    await db.exec('CREATE MATERIALIZED VIEW app.per_day_mv TO app.per_day AS SELECT toDate(h) AS d, sum(n) AS n FROM app.hourly GROUP BY d');
    const fed = await both('hourly', `INSERT INTO app.hourly ${token('d')} SELECT toStartOfHour(t), 1 FROM app.src`);
    assert.equal(fed.counted.kind, 'unknown');
    assert.equal(fed.counted.views, true, fed.counted.reason);
    assert.equal(fed.parts, 48);

    // Two INSERTs between the readings.
    const before = await counters();
    await db.exec('INSERT INTO app.daily SELECT * FROM app.src LIMIT 5');
    await db.exec('INSERT INTO app.daily SELECT * FROM app.src LIMIT 7');
    const two = rowsFromCounters(before, await counters());
    assert.equal(two.kind, 'unknown');
    assert.equal(two.views, false);
    assert.match(two.reason, /2 INSERTs ran/);
  });
});

/** Events over 48 h and a plan into `target` of chunks of `chunkHours` (two by default: 36 h and 12 h). */
async function planned(t, statements, target, defaults = { chunkHours: 36 }) {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', ...defaults } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 48, rowsPerHour: 60 });
  await p.exec(...statements);
  const r = p.cli(['plan', '--target', target, '--from', '2025-01-01', '--to', '2025-01-03']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.strategy, 'mv_replay');
  return { p, planId: r.json.planId };
}

const chunkRows = (p, planId) => p.cli(['status', '--plan-id', planId, '--chunks']).json.chunks.map((c) => [c.status, c.rowsWritten, !!c.unverified]);

test('mv_replay on the embedded engine: rows per chunk over partitions and merging on insert; a forced re-plan writes nothing twice', async (t) => {
  const { p, planId } = await planned(
    t,
    [
      // Chunk 1 spans two days: its INSERT makes a part per day.
      'CREATE TABLE app.by_kind (h DateTime, kind String, n UInt64) ENGINE = MergeTree PARTITION BY toDate(h) ORDER BY (h, kind) SETTINGS non_replicated_deduplication_window = 100',
      'CREATE MATERIALIZED VIEW app.by_kind_mv TO app.by_kind AS SELECT toStartOfHour(event_time) AS h, kind, count() AS n FROM app.events GROUP BY h, kind',
    ],
    'app.by_kind',
  );
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.json.rowsWritten, 144);
  assert.deepEqual(chunkRows(p, planId), [['done', 108, false], ['done', 36, false]], '36 h and 12 h of three kinds');

  // Planned again with --force, the same plan id and tokens: the target drops each chunk as a repeat.
  const again = p.cli(['plan', '--target', 'app.by_kind', '--from', '2025-01-01', '--to', '2025-01-03', '--force', '--discard-applied']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json.planId, planId);
  const rerun = p.cli(['run', '--plan-id', planId]);
  assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
  assert.deepEqual(chunkRows(p, planId), [['done', 0, false], ['done', 0, false]], 'dropped as duplicates: nothing written, and that is known');
  assert.deepEqual(await p.rows('SELECT toString(count()) AS c, toString(sum(n)) AS n FROM app.by_kind'), [{ c: '144', n: '2880' }]);
});

test('mv_replay into a SummingMergeTree that folds rows on insert: the rows written, not the rows sent', async (t) => {
  const { p, planId } = await planned(
    t,
    [
      'CREATE TABLE app.per_hour (h DateTime, n UInt64) ENGINE = SummingMergeTree ORDER BY h',
      'CREATE MATERIALIZED VIEW app.per_hour_mv TO app.per_hour AS SELECT toStartOfHour(event_time) AS h, toUInt64(1) AS n FROM app.events',
    ],
    'app.per_hour',
  );
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual(chunkRows(p, planId), [['done', 36, false], ['done', 12, false]], 'one row an hour of the 60 sent');
  assert.deepEqual(await p.rows('SELECT toString(sum(n)) AS n FROM app.per_hour'), [{ n: '2880' }]);
});

test('mv_replay into a target another view reads from: its rows alone, not the view\'s', async (t) => {
  const { p, planId } = await planned(
    t,
    [
      'CREATE TABLE app.per_hour (h DateTime, n UInt64) ENGINE = MergeTree ORDER BY h',
      'CREATE MATERIALIZED VIEW app.per_hour_mv TO app.per_hour AS SELECT toStartOfHour(event_time) AS h, count() AS n FROM app.events GROUP BY h',
      // A chain: per_hour feeds per_day.
      'CREATE TABLE app.per_day (d Date, n UInt64) ENGINE = SummingMergeTree ORDER BY d',
      'CREATE MATERIALIZED VIEW app.per_day_mv TO app.per_day AS SELECT toDate(h) AS d, sum(n) AS n FROM app.per_hour GROUP BY d',
    ],
    'app.per_hour',
  );
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.json.rowsWritten, 48);
  assert.deepEqual(chunkRows(p, planId), [['done', 36, false], ['done', 12, false]]);
  assert.deepEqual(await p.rows('SELECT toString(sum(n)) AS n FROM app.per_day'), [{ n: '2880' }], 'the chain downstream got every row once');
});

test('mv_replay with maxParallelChunks 3 on the embedded engine: each chunk its own rows, measured one insert at a time', async (t) => {
  const { p, planId } = await planned(
    t,
    [
      'CREATE TABLE app.by_kind (h DateTime, kind String, n UInt64) ENGINE = MergeTree PARTITION BY toDate(h) ORDER BY (h, kind)',
      'CREATE MATERIALIZED VIEW app.by_kind_mv TO app.by_kind AS SELECT toStartOfHour(event_time) AS h, kind, count() AS n FROM app.events GROUP BY h, kind',
    ],
    'app.by_kind',
    { chunkHours: 5, maxParallelChunks: 3 },
  );
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  let running = 0;
  let peak = 0;
  for (const e of fs.readFileSync(run.json.eventPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l))) {
    if (e.event === 'chunk_started') peak = Math.max(peak, ++running);
    if (e.event === 'chunk_succeeded') running--;
  }
  assert.equal(peak, 3, 'chunks in flight together, their inserts queued for measuring');
  // Nine chunks of 5 h and the last of 3 h, three kinds an hour.
  assert.deepEqual(chunkRows(p, planId), [...Array(9).fill(['done', 15, false]), ['done', 9, false]]);
  assert.deepEqual(await p.rows('SELECT toString(count()) AS c, toString(sum(n)) AS n FROM app.by_kind'), [{ c: '144', n: '2880' }]);
});

// The executor itself, chunk by chunk on the real engine, so that a view can appear on the
// target between two chunks (a run in a child process holds the engine; there it cannot).
test('a view created on the target mid-run: that chunk is unverified with a note, the next are measured by their parts', async (t) => {
  const { p, planId } = await planned(
    t,
    [
      'CREATE TABLE app.per_hour (h DateTime, n UInt64) ENGINE = MergeTree ORDER BY h',
      'CREATE MATERIALIZED VIEW app.per_hour_mv TO app.per_hour AS SELECT toStartOfHour(event_time) AS h, count() AS n FROM app.events GROUP BY h',
    ],
    'app.per_hour',
    { chunkHours: 12 },
  );
  const { connect } = await import('../dist/server/clickhouse.js');
  const { sqlExecutor } = await import('../dist/engine/driver.js');
  const { readPlanFile } = await import('../dist/engine/plan_file.js');
  const plan = readPlanFile(`${p.stateDir}/plans/${planId}.json`);
  const ch = await connect({ url: 'chdb:./data', database: 'app' }, p.dir);
  t.after(() => ch.close());
  assert.equal(ch.ownCounters, true);
  const executor = sqlExecutor(ch, plan, { exactCounts: true, resendWithoutDeduplication: true, rowsByCounters: true });
  const events = [];
  const io = { record: (e) => (events.push(e), true), durable() {}, beforeStatement() {}, signal: new AbortController().signal };
  const attempt = (chunk) =>
    executor.run({ action: 'start_chunk', chunk, chunkId: plan.chunk(chunk).id, attempt: 1, queryIds: [`q${chunk}`], statementsDone: 0, uncertain: false }, io);
  const strip = ({ statementMs, ...o }) => o;

  assert.deepEqual(strip(await attempt(0)), { kind: 'succeeded', rows: 12 }, 'by the counters');
  await ch.exec('CREATE TABLE app.per_day (d Date, n UInt64) ENGINE = SummingMergeTree ORDER BY d');
  await ch.exec('CREATE MATERIALIZED VIEW app.per_day_mv TO app.per_day AS SELECT toDate(h) AS d, sum(n) AS n FROM app.per_hour GROUP BY d');
  assert.deepEqual(strip(await attempt(1)), { kind: 'succeeded', rows: 0, unverified: true });
  assert.equal(events.length, 1);
  assert.match(events[0].message, /cannot be told: it also fed materialized views that read from the target/);
  assert.match(events[0].message, /compare the target with the view over 2025-01-01T12:00:00\.000Z → 2025-01-02T00:00:00\.000Z/);
  assert.deepEqual(strip(await attempt(2)), { kind: 'succeeded', rows: 12 }, 'by the parts: the view\'s rows are not the target\'s');
  assert.deepEqual(strip(await attempt(3)), { kind: 'succeeded', rows: 12 });

  // The note's advice: the target's window against the view over it. The unverified chunk wrote its rows.
  const window = "h >= toDateTime('2025-01-01 12:00:00', 'UTC') AND h < toDateTime('2025-01-02 00:00:00', 'UTC')";
  const [target] = await ch.query(`SELECT toString(count()) AS c, toString(sum(n)) AS n FROM app.per_hour WHERE ${window}`);
  const [view] = await ch.query(
    `SELECT toString(count()) AS c, toString(sum(n)) AS n FROM (SELECT toStartOfHour(event_time) AS h, count() AS n FROM app.events GROUP BY h) WHERE ${window}`,
  );
  assert.deepEqual(target, view);
  assert.deepEqual(target, { c: '12', n: '720' });
});
