// Chunks sized by volume (--chunk-rows / --chunk-bytes) on a skewed month:
// rows per hour growing 50× over the month, empty nights, one spike day.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createProject } from './helpers/project.mjs';

const sha16 = (s) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 16);
const FROM = '2025-01-01';
const TO = '2025-01-31';
const GRID_MS = 15 * 60_000;
const MAX_CHUNK_MS = 168 * 3_600_000;

const p = createProject({ options: { defaults: { timeColumn: 'event_time', retryDelayMs: 10 } } });
after(p.cleanup);

const TABLE = `(event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY (event_time, user_id)`;
/** Rows of hour h: 0 from 00:00 to 06:00, 150 growing to 7500 over the month, ×10 on Jan 20. */
const SEED = `INSERT INTO app.events
  SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + h * 3600 + intDiv(i * 3600, cnt) AS event_time, i % 1000 AS user_id, 'click' AS kind, i / 7 AS value
  FROM (SELECT number AS h, toUInt64(if(h % 24 < 6, 0, round(150 * (1 + 49 * h / 719)) * if(intDiv(h, 24) = 19, 10, 1))) AS cnt FROM numbers(720))
  ARRAY JOIN range(cnt) AS i`;

let total = 0;
let maxCell = 0;
before(async () => {
  await p.exec('CREATE DATABASE app', `CREATE TABLE app.events ${TABLE}`, SEED);
  [{ n: total }] = (await p.rows('SELECT count() AS n FROM app.events')).map((r) => ({ n: Number(r.n) }));
  const [m] = await p.rows(`SELECT max(c) AS m FROM (SELECT count() AS c FROM app.events GROUP BY toStartOfFifteenMinutes(event_time))`);
  maxCell = Number(m.m);
  assert.ok(total >= 2_000_000, `a month of ${total} rows`);
});

const windows = (doc) => doc.chunks.map((c) => ({ from: Date.parse(c.from), to: Date.parse(c.to), expectedRows: c.expectedRows }));

/** Every chunk within a grid cell of the target, save the last and those the week cap ended. */
function assertNearTarget(chunks, target, slack, what) {
  chunks.forEach((c, i) => {
    assert.ok(c.rows <= target + slack, `${what} chunk ${i + 1}: ${c.rows} rows over ${target} + ${slack}`);
    const capped = c.to - c.from >= MAX_CHUNK_MS;
    if (i + 1 < chunks.length && !capped) assert.ok(c.rows >= target - slack, `${what} chunk ${i + 1}: ${c.rows} rows under ${target} - ${slack}`);
  });
}

function assertTiles(chunks) {
  assert.equal(chunks[0].from, Date.parse(FROM));
  assert.equal(chunks.at(-1).to, Date.parse(TO));
  for (let i = 0; i + 1 < chunks.length; i++) assert.equal(chunks[i].to, chunks[i + 1].from, 'consecutive, half-open');
  for (const c of chunks) {
    assert.equal((c.from - Date.parse(FROM)) % GRID_MS, 0, 'whole grid cells');
    assert.ok(c.to - c.from <= MAX_CHUNK_MS);
  }
}

async function windowCounts(table, chunks) {
  const out = [];
  for (const c of chunks) {
    const [r] = await p.rows(
      `SELECT count() AS n FROM ${table} WHERE event_time >= toDateTime(${c.from / 1000}, 'UTC') AND event_time < toDateTime(${c.to / 1000}, 'UTC')`,
    );
    out.push({ ...c, rows: Number(r.n) });
  }
  return out;
}

test('--chunk-rows: table, copy and mv_replay chunks hold about N rows each, every row once', async () => {
  const N = 200_000;
  await p.exec(
    `CREATE TABLE app.events_copy ${TABLE}`,
    `CREATE TABLE app.events_mv ${TABLE}`,
    `CREATE MATERIALIZED VIEW app.events_to_mv TO app.events_mv AS SELECT event_time, user_id, kind, value FROM app.events WHERE 1`,
  );
  const fp = sha16(`chdb:${p.dataDir}|app`);
  for (const [strategy, extra, written] of [
    ['copy', ['--target', 'app.events_copy', '--source', 'app.events'], 'app.events_copy'],
    ['mv_replay', ['--target', 'app.events_mv'], 'app.events_mv'],
    ['table', ['--target', 'app.events'], 'app.events'],
  ]) {
    const dry = p.cli(['plan', ...extra, '--from', FROM, '--to', TO, '--chunk-rows', String(N), '--dry-run']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.equal(dry.json.strategy, strategy);
    assert.deepEqual(dry.json.sizing, { rows: N });
    assert.equal(dry.json.chunkHours, undefined);
    const planned = windows(dry.json);
    assertTiles(planned);
    assert.equal(planned.reduce((a, c) => a + c.expectedRows, 0), total, 'the expected rows are the window');
    assert.deepEqual(dry.json.expectedRows, planned.map((c) => c.expectedRows));
    assert.equal(dry.json.distribution.expectedRows.total, total);
    assert.ok(planned.length >= 10 && planned.length <= total / N + 6, `${planned.length} chunks`);
    const r = p.cli(['plan', ...extra, '--from', FROM, '--to', TO, '--chunk-rows', String(N)]);
    assert.equal(r.code, 0, r.stdout);
    if (strategy === 'table') assert.equal(r.json.planId, sha16(`app.events|2025-01-01T00:00:00.000Z|2025-01-31T00:00:00.000Z|rows=${N}|event_time|${fp}`));
    const run = p.cli(['run', '--plan-id', r.json.planId], { timeoutMs: 600_000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.json.status, 'completed');
    // Measured after the run: the rows each chunk's window holds in the table written.
    const measured = await windowCounts(written, planned);
    const factor = strategy === 'table' ? 2 : 1; // table re-inserts its window into itself
    assertNearTarget(measured.map((c) => ({ ...c, rows: c.rows / factor })), N, maxCell, strategy);
    measured.forEach((c, i) => assert.equal(c.rows, planned[i].expectedRows * factor, `${strategy} chunk ${i + 1}: every row once`));
    const [{ n }] = await p.rows(`SELECT count() AS n FROM ${written}`);
    assert.equal(Number(n), total * factor);
    // status --chunks: expected rows beside the rows written.
    const st = p.cli(['status', '--plan-id', r.json.planId, '--chunks']);
    const byIndex = new Map(st.json.chunks.map((c, i) => [c.id, c]));
    const plan = dry.json.chunks;
    plan.forEach((c, i) => assert.equal(byIndex.get(c.id).expectedRows, planned[i].expectedRows));
    if (strategy !== 'mv_replay') plan.forEach((c, i) => assert.equal(byIndex.get(c.id).rowsWritten, planned[i].expectedRows));
    const text = p.cli(['status', '--plan-id', r.json.planId, '--chunks'], { text: true });
    assert.match(text.stdout, /expected +rows/);
    if (strategy !== 'mv_replay') {
      // verify buckets rows by the recorded boundaries, not by equal hours.
      const v = p.cli(['verify', '--plan-id', r.json.planId]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(v.json.summary.ok, planned.length, JSON.stringify(v.json.summary));
    }
  }
  // The table strategy doubled app.events; put it back for the other tests.
  await p.exec('TRUNCATE TABLE app.events', SEED, 'DROP VIEW app.events_to_mv', 'DROP TABLE app.events_mv', 'DROP TABLE app.events_copy');
  p.cli(['list']);
});

test('--chunk-bytes: chunks within 2× of the target, measured after a copy', async () => {
  await p.exec(`CREATE TABLE app.bytes_copy ${TABLE}`);
  const target = 8_000_000;
  const r = p.cli(['plan', '--target', 'app.bytes_copy', '--source', 'app.events', '--from', FROM, '--to', TO, '--chunk-bytes', '8MB', '--dry-run']);
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json.sizing, { bytes: target });
  const planned = windows(r.json);
  assertTiles(planned);
  const w = p.cli(['plan', '--target', 'app.bytes_copy', '--source', 'app.events', '--from', FROM, '--to', TO, '--chunk-bytes', '8MB']);
  const run = p.cli(['run', '--plan-id', w.json.planId], { timeoutMs: 600_000 });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  // Bytes per row as the written table reports them, independently of the plan.
  const [s] = await p.rows(
    `SELECT (SELECT sum(data_uncompressed_bytes) FROM system.columns WHERE database = 'app' AND table = 'bytes_copy') / (SELECT sum(rows) FROM system.parts WHERE active AND database = 'app' AND table = 'bytes_copy') AS b`,
  );
  const perRow = Number(s.b);
  const measured = await windowCounts('app.bytes_copy', planned);
  measured.forEach((c, i) => {
    const bytes = c.rows * perRow;
    assert.ok(bytes <= 2 * target, `chunk ${i + 1}: ${bytes} bytes`);
    if (i + 1 < measured.length && c.to - c.from < MAX_CHUNK_MS) assert.ok(bytes >= target / 2, `chunk ${i + 1}: ${bytes} bytes`);
  });
  await p.exec('DROP TABLE app.bytes_copy');
});

test('same data → same plan; changed data → differs; bad sizes → exit 2, nothing written', async (t) => {
  const p2 = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p2.cleanup);
  await p2.exec('CREATE DATABASE app', `CREATE TABLE app.events ${TABLE}`, SEED.replace('numbers(720)', 'numbers(72)'));
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-04'];
  for (const bad of [
    ['--chunk-rows', '0'],
    ['--chunk-rows', '-1'],
    ['--chunk-rows', '1.5'],
    ['--chunk-bytes', '12XB'],
    ['--chunk-hours', '6', '--chunk-rows', '1000'],
  ]) {
    const r = p2.cli([...args, ...bad]);
    assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stdout}`);
    assert.equal(r.json.ok, false);
    assert.match(r.json.error, /chunk-rows|chunk-bytes|exclusive/, bad.join(' '));
    assert.deepEqual(p2.stateFiles(), [], `${bad.join(' ')} wrote nothing`);
  }
  const a = p2.cli([...args, '--chunk-rows', '5000']);
  assert.equal(a.code, 0, a.stdout);
  const b = p2.cli([...args, '--chunk-rows', '5000']);
  assert.equal(b.json.planId, a.json.planId);
  assert.equal(b.json.existed, true);
  const text = p2.cli([...args, '--chunk-rows', '5000', '--dry-run'], { text: true });
  assert.match(text.stdout, /expected +rows per chunk: min \d+, median \d+, max \d+/);
  for (const line of text.stdout.split('\n').filter((l) => l.includes('█'))) assert.ok([...line].length <= 80, line);
  // More rows on the first afternoon: the boundaries move, the plan differs.
  await p2.exec(`INSERT INTO app.events SELECT toDateTime('2025-01-01 14:00:00', 'UTC') + number % 3600, number, 'x', 0 FROM numbers(20000)`);
  const c = p2.cli([...args, '--chunk-rows', '5000']);
  assert.equal(c.code, 2, c.stdout);
  assert.match(c.json.error, /already exists with different chunks, volume/);
  const d = p2.cli([...args, '--chunk-rows', '5000', '--force']);
  assert.equal(d.code, 0, d.stdout);
  assert.equal(d.json.planId, a.json.planId);
});

test('mv_replay into a non-replicated target: a chunk over one insert block warns with a --chunk-rows that keeps it under', async () => {
  await p.exec(
    `CREATE TABLE app.big_mv ${TABLE}`,
    `CREATE MATERIALIZED VIEW app.events_to_big TO app.big_mv AS SELECT event_time, user_id, kind, value FROM app.events`,
  );
  const args = ['plan', '--target', 'app.big_mv', '--from', FROM, '--to', TO, '--dry-run'];
  const r = p.cli([...args, '--chunk-rows', '3000000']);
  assert.equal(r.code, 0, r.stdout);
  const warning = r.json.warnings.find((w) => w.includes('insert block'));
  assert.ok(warning, JSON.stringify(r.json.warnings));
  const advised = /--chunk-rows (\d+)/.exec(warning)[1];
  const again = p.cli([...args, '--chunk-rows', advised]);
  assert.equal(again.code, 0);
  assert.equal(again.json.warnings.filter((w) => w.includes('insert block')).length, 0, 'the advice holds');
  const [{ value }] = await p.rows(`SELECT value FROM system.settings WHERE name = 'max_insert_block_size'`);
  assert.ok(Math.max(...again.json.expectedRows) <= Number(value));
  await p.exec('DROP VIEW app.events_to_big', 'DROP TABLE app.big_mv');
});
