// Crash safety of mv_replay: SIGKILL the real `run` at random instants, `resume`
// each time. The replayed target must equal what the live view wrote, except
// where the run told the operator it could not tell (a retry after a crash that
// wrote no rows: noted, counted, marked, raised by doctor): never wrong in silence. KILL_COUNT as in
// tests/kill.test.mjs (default here 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createProject } from './helpers/project.mjs';

const KILLS = Math.max(1, Math.round(Number(process.env.KILL_COUNT ?? 10) / 2));
const CHUNKS = 120;
const FROM = '2025-01-01T00:00:00Z';
const TO = new Date(Date.parse(FROM) + CHUNKS * 900_000).toISOString();

test(`mv_replay of ${CHUNKS} chunks into a deduplicating target survives ${KILLS} SIGKILLs; a window is never wrong in silence`, async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 0.25, retryDelayMs: 10 }, limits: { maxWindowHours: 1e6 } } });
  t.after(p.cleanup);
  await p.exec(
    'CREATE DATABASE app',
    'CREATE TABLE app.events (event_time DateTime, kind LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY event_time',
    `CREATE TABLE app.agg (t DateTime, kind LowCardinality(String), n UInt64, v Float64)
     ENGINE = MergeTree ORDER BY (t, kind) SETTINGS non_replicated_deduplication_window = 1000`,
    // Slow enough (about 40 ms a chunk) that kills land mid-run, many of them mid-INSERT.
    `CREATE MATERIALIZED VIEW app.agg_mv TO app.agg AS
     SELECT toStartOfFifteenMinutes(event_time) AS t, kind, count() AS n, sum(value + sleepEachRow(0.004)) AS v FROM app.events GROUP BY t, kind`,
    `INSERT INTO app.events SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + number * 90, ['a', 'b'][number % 2 + 1], number
     FROM numbers(${CHUNKS * 10}) SETTINGS max_block_size = 10, min_insert_block_size_rows = 10`,
  );
  const windows = 'SELECT toString(t) AS t, kind, sum(n) AS n, sum(v) AS v FROM app.agg GROUP BY t, kind ORDER BY t, kind';
  const live = await p.rows(windows);
  await p.exec('TRUNCATE TABLE app.agg');
  const planned = p.cli(['plan', '--target', 'app.agg', '--from', FROM, '--to', TO]);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  assert.equal(planned.json.strategy, 'mv_replay');

  let landed = 0;
  for (let spawned = 0; landed < KILLS; spawned++) {
    assert.ok(spawned < KILLS * 4, 'kills keep landing before the run completes');
    const child = p.spawnCli([spawned === 0 ? 'run' : 'resume', '--plan-id', planned.json.planId, '--json']);
    const timer = setTimeout(() => child.kill('SIGKILL'), 300 + Math.random() * 1200);
    const { code, signal } = await child.done;
    clearTimeout(timer);
    if (signal === 'SIGKILL') landed++;
    else {
      assert.equal(code, 0, child.stdoutText + child.stderrText);
      break;
    }
  }
  const final = p.cli(['resume', '--plan-id', planned.json.planId]);
  assert.equal(final.code, 0, final.stdout + final.stderr);
  assert.equal(final.json.chunkCounts.done, CHUNKS);

  const log = fs.readFileSync(final.json.eventPath, 'utf8');
  // Chunks whose retry after a crash wrote no rows: noted, for the operator to compare.
  const noted = new Set([...log.matchAll(/"message":"chunk ([0-9a-f]{16}): its retry after an interrupted attempt wrote no rows/g)].map((m) => m[1]));
  const plan = JSON.parse(fs.readFileSync(planned.json.planPath, 'utf8'));
  const chunkOf = (t) => plan.chunks.find((c) => Date.parse(c.from) <= Date.parse(`${t}Z`) && Date.parse(`${t}Z`) < Date.parse(c.to)).id;
  const replayed = new Map((await p.rows(windows)).map((r) => [`${r.t}|${r.kind}`, r]));
  const silent = live.filter((w) => JSON.stringify(replayed.get(`${w.t}|${w.kind}`)) !== JSON.stringify(w) && !noted.has(chunkOf(w.t)));
  assert.deepEqual(silent, [], 'every window equals the live view, or its chunk was noted');
  assert.equal(replayed.size, live.length, 'no window the live view did not write');
  // The same chunks are counted in the run's summary, marked in the chunk table, and raised by doctor.
  assert.equal(final.json.unverifiedChunks ?? 0, noted.size);
  const table = p.cli(['status', '--plan-id', planned.json.planId, '--chunks']).json.chunks;
  assert.deepEqual(new Set(table.filter((c) => c.unverified).map((c) => c.id)), noted);
  const d = p.cli(['doctor', '--plan-id', planned.json.planId]).json;
  assert.equal(d.issues.some((i) => i.code === 'chunks_unverified'), noted.size > 0);
  // Its advice (`verify`, read-only) answers for every window: it must agree with the comparison above.
  const unverified = d.issues.find((i) => i.code === 'chunks_unverified');
  if (unverified) assert.equal(unverified.command, `verify --plan-id ${planned.json.planId} --chunks`);
  const v = p.cli(['verify', '--plan-id', planned.json.planId, '--chunks']);
  const differ = new Set(live.filter((w) => JSON.stringify(replayed.get(`${w.t}|${w.kind}`)) !== JSON.stringify(w)).map((w) => chunkOf(w.t)));
  const named = new Set(v.json.chunks.filter((c) => c.verdict !== 'ok' && c.verdict !== 'not_verifiable').map((c) => c.id));
  assert.deepEqual(named, differ, v.stdout);
  assert.equal(v.code, differ.size === 0 ? 0 : 1, v.stdout);
  t.diagnostic(`kills landed: ${landed}, retries after a crash that wrote no rows (noted): ${noted.size}`);
});
