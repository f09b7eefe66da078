// Crash safety: SIGKILL the real `run` process at random instants, `resume`
// each time, and check every row landed exactly once (copy) or exactly twice
// (table strategy). KILL_COUNT sets the kills per scenario (default 10);
// scripts/soak.sh runs this with a large count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createProject, seedEvents } from './helpers/project.mjs';

const KILLS = Number(process.env.KILL_COUNT ?? 10);
// 200 chunks of 15 minutes per 10 kills, so that every kill lands before the run completes.
const CHUNKS = 200 * Math.max(1, Math.ceil(KILLS / 10));
const HOURS = CHUNKS / 4;
const FROM = '2025-01-01T00:00:00Z';
const TO = new Date(Date.parse(FROM) + HOURS * 3_600_000).toISOString();
const COLS = 'event_time, user_id, kind, value';

function project(t, parallel) {
  const p = createProject({
    options: {
      defaults: { timeColumn: 'event_time', chunkHours: 0.25, maxParallelChunks: parallel, retryDelayMs: 10 },
      limits: { maxWindowHours: 1_000_000 },
    },
  });
  t.after(p.cleanup);
  return p;
}

/** Per 15-minute chunk window: row count and a content checksum. */
async function perChunk(p, table) {
  return p.rows(
    `SELECT intDiv(toUnixTimestamp(event_time) - toUnixTimestamp(parseDateTimeBestEffort('${FROM}')), 900) AS k,
            toString(count()) AS c, toString(sum(cityHash64(${COLS}))) AS h
     FROM ${table}
     WHERE event_time >= parseDateTimeBestEffort('${FROM}') AND event_time < parseDateTimeBestEffort('${TO}')
     GROUP BY k ORDER BY k`,
  );
}

/**
 * Start run/resume, SIGKILL it after a random delay; repeat until KILLS kills landed mid-run.
 * After every kill, `windowOk(k, rows, done)` must hold for each chunk window k: a broken
 * invariant is caught at the kill that broke it, with the chunk's events.
 */
async function killAndResume(p, planId, windowOk) {
  let landed = 0;
  let spawned = 0;
  let sawTakeover = false;
  while (landed < KILLS) {
    const child = p.spawnCli([spawned === 0 ? 'run' : 'resume', '--plan-id', planId, '--json']);
    spawned++;
    const timer = setTimeout(() => child.kill('SIGKILL'), 100 + Math.random() * 1500);
    const { code, signal } = await child.done;
    clearTimeout(timer);
    if (signal === 'SIGKILL') {
      landed++;
      const st = p.cli(['status', '--plan-id', planId, '--chunks']).json;
      const rows = new Map((await perChunk(p, 'app.events')).map((r) => [Number(r.k), Number(r.c)]));
      const bad = st.chunks.filter((c) => !windowOk(c.index - 1, rows.get(c.index - 1) ?? 0, c.status === 'done'));
      const story = () => fs.readFileSync(st.eventPath, 'utf8').split('\n').filter((l) => l.includes(`"chunk":${bad[0].index - 1},`)).join('\n');
      assert.deepEqual(bad.map((c) => c.index - 1), [], `after kill ${landed}: ${bad.length ? story() : ''}`);
    } else {
      assert.equal(code, 0, `run ended ${code}: ${child.stdoutText}${child.stderrText}`);
      break; // completed before the kill: nothing left to interrupt
    }
    assert.ok(spawned < KILLS * 4);
  }
  const final = p.cli(['resume', '--plan-id', planId]);
  assert.equal(final.code, 0, final.stdout + final.stderr);
  assert.equal(final.json.status, 'completed');
  const log = fs.readFileSync(final.json.eventPath, 'utf8');
  sawTakeover = /"event":"lock_taken_over"/.test(log);
  return { landed, final, sawTakeover, log };
}

/** How often a killed attempt was found applied (not re-run) or not applied (re-run). */
function recovered(log) {
  const found = (log.match(/"recovered":true/g) ?? []).length;
  const rerun = (log.match(/"event":"chunk_started"[^\n]*"attempt":[2-9]/g) ?? []).length;
  return `attempts found applied after a kill: ${found}, attempts re-run: ${rerun}`;
}

async function copyScenario(t, parallel) {
  const p = project(t, parallel);
  await seedEvents(p, { table: 'app.src_rows', hours: HOURS + 2, rowsPerHour: 40 });
  await p.exec(
    // Slow enough (about 50 ms a chunk, times the chunks in flight) that kills land mid-run, many of them mid-INSERT.
    `CREATE VIEW app.src AS SELECT event_time, user_id, kind, value + sleepEachRow(${0.005 * parallel}) AS value FROM app.src_rows`,
    `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64)
     ENGINE = MergeTree ORDER BY (event_time, user_id) SETTINGS non_replicated_deduplication_window = 1000`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', FROM, '--to', TO]);
  assert.equal(planned.code, 0, planned.stdout);
  assert.equal(planned.json.chunkCount, CHUNKS);
  const srcRows = new Map((await perChunk(p, 'app.src_rows')).map((r) => [Number(r.k), Number(r.c)]));
  // A done chunk holds exactly its source rows; no window ever holds more.
  const { landed, final, sawTakeover, log } = await killAndResume(p, planned.json.planId, (k, rows, done) =>
    done ? rows === srcRows.get(k) : rows === 0 || rows === srcRows.get(k),
  );
  assert.equal(landed, KILLS, 'every kill landed mid-run');
  const src = await perChunk(p, 'app.src_rows');
  const dst = await perChunk(p, 'app.events');
  assert.equal(src.length, CHUNKS);
  // On a mismatch, the events of the first chunk that differs say what happened to it.
  const bad = src.find((r, i) => dst[i]?.k !== r.k || dst[i]?.c !== r.c || dst[i]?.h !== r.h);
  const story = bad ? log.split('\n').filter((l) => l.includes(`"chunk":${bad.k},`)).join('\n') : '';
  assert.deepEqual(dst, src, `every chunk window: same count and checksum as the source${bad ? `; chunk ${bad.k}:\n${story}` : ''}`);
  assert.equal(final.json.rowsWritten, CHUNKS * 10, 'rows written counted once per row');
  assert.equal(final.json.chunkCounts.done, CHUNKS);
  if (landed > 0) assert.ok(sawTakeover, 'a killed run left a lock that was taken over');
  t.diagnostic(`kills landed: ${landed}, attempts: ${final.json.attempts}, ${recovered(log)}`);
}

test(`copy plan of ${CHUNKS} chunks into a deduplicating target survives ${KILLS} SIGKILLs: every row exactly once`, async (t) => {
  await copyScenario(t, 1);
});

test(`same with maxParallelChunks 4`, async (t) => {
  await copyScenario(t, 4);
});

test(`table strategy survives ${KILLS} SIGKILLs: every row of the window exactly twice`, async (t) => {
  const p = project(t, 1);
  await seedEvents(p, { table: 'app.events', hours: HOURS + 2, rowsPerHour: 40 });
  // A view fed by every insert into app.events slows each chunk (about 50 ms) so kills land mid-run.
  await p.exec(
    'CREATE TABLE app.sink (s UInt8) ENGINE = Null',
    'CREATE MATERIALIZED VIEW app.slow TO app.sink AS SELECT sleepEachRow(0.005) AS s FROM app.events',
  );
  const before = await perChunk(p, 'app.events');
  const planned = p.cli(['plan', '--target', 'app.events', '--from', FROM, '--to', TO]);
  assert.equal(planned.code, 0, planned.stdout);
  const once = new Map(before.map((r) => [Number(r.k), Number(r.c)]));
  // A done chunk's window is doubled; any other is as before or doubled (applied, not yet recorded).
  const { landed, final, log } = await killAndResume(p, planned.json.planId, (k, rows, done) =>
    done ? rows === 2 * once.get(k) : rows === once.get(k) || rows === 2 * once.get(k),
  );
  assert.equal(landed, KILLS, 'every kill landed mid-run');
  const after = await perChunk(p, 'app.events');
  assert.deepEqual(
    after,
    before.map((r) => ({ k: r.k, c: String(Number(r.c) * 2), h: ((BigInt(r.h) * 2n) % 2n ** 64n).toString() })),
    'each window doubled, same content',
  );
  const [notTwice] = await p.rows(
    `SELECT count() AS n FROM (SELECT ${COLS}, count() AS c FROM app.events
       WHERE event_time >= parseDateTimeBestEffort('${FROM}') AND event_time < parseDateTimeBestEffort('${TO}')
       GROUP BY ${COLS} HAVING c != 2)`,
  );
  assert.equal(Number(notTwice.n), 0, 'no row appears other than exactly twice');
  assert.equal(final.json.rowsWritten, CHUNKS * 10);
  t.diagnostic(`kills landed: ${landed}, attempts: ${final.json.attempts}, ${recovered(log)}`);
});
