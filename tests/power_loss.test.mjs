// Group commit: one fsync of a `chunks_intended` line covers the next attempts of many chunks,
// whose own `chunk_started` lines are not made durable before their INSERTs. What a power loss
// can leave behind is then the log up to that announcement, with the target holding the rows
// of the chunks inserted before the power went (any prefix of them). Simulated here by cutting
// the log of a finished run back to its first announcement, removing the snapshot, and putting
// the windows of the chunks "not yet sent" back to their rows before the run. The resume must
// leave every window exactly doubled (table strategy: the window copied into itself once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';

const FROM = '2025-01-01T00:00:00Z';
const window = (k) => {
  const at = (ms) => `toDateTime('${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}', 'UTC')`;
  const from = Date.parse(FROM) + k * 900_000;
  return `event_time >= ${at(from)} AND event_time < ${at(from + 900_000)}`;
};

test('power loss after an announcement: announced chunks are counted on resume, none inserted twice', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 0.25 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 12, rowsPerHour: 60 }); // 48 chunks of 15 min, 15 rows each
  await p.exec('CREATE TABLE app.orig AS app.events', 'INSERT INTO app.orig SELECT * FROM app.events');
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const { planId } = planned.json;
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.json.status, 'completed');

  const eventFile = path.join(p.stateDir, 'events', `${planId}.ndjson`);
  const log = fs.readFileSync(eventFile, 'utf8');
  const lines = log.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const intents = lines.filter((e) => e.event === 'chunks_intended');
  // 48 chunks: two announcements (of 32 and 16), where there were 48 fsyncs before the inserts.
  assert.deepEqual(intents.map((e) => e.chunks.length), [32, 16]);
  assert.deepEqual(intents[0].chunks, [...Array(32).keys()]);
  const cut = log.indexOf('\n', log.indexOf('"event":"chunks_intended"')) + 1;
  assert.ok(!log.slice(0, cut).includes('"chunk_started"'), 'the first announcement comes before any start');

  // The power went while chunk 16's INSERT was about to be sent.
  fs.writeFileSync(eventFile, log.slice(0, cut));
  fs.rmSync(path.join(p.stateDir, 'runs', `${planId}.json`), { force: true });
  const notSent = [...Array(32).keys()].slice(16).concat([...Array(16).keys()].map((k) => 32 + k));
  const notSentWhere = notSent.map((k) => `(${window(k)})`).join(' OR ');
  await p.exec(
    `ALTER TABLE app.events DELETE WHERE ${notSentWhere} SETTINGS mutations_sync = 2`,
    `INSERT INTO app.events SELECT * FROM app.orig WHERE ${notSentWhere}`,
  );

  const st = p.cli(['status', '--plan-id', planId, '--chunks']);
  assert.equal(st.code, 0, st.stdout + st.stderr);
  const resumed = p.cli(['resume', '--plan-id', planId]);
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.equal(resumed.json.status, 'completed');

  const counts = async (table) =>
    new Map(
      (await p.rows(`SELECT intDiv(toUnixTimestamp(event_time) - toUnixTimestamp(toDateTime('2025-01-01 00:00:00', 'UTC')), 900) AS k,
        toString(count()) AS c, toString(sum(cityHash64(event_time, user_id, kind, value))) AS h FROM ${table} GROUP BY k ORDER BY k`)).map((r) => [Number(r.k), r]),
    );
  const [orig, now] = [await counts('app.orig'), await counts('app.events')];
  assert.equal(now.size, 48);
  for (const [k, o] of orig) {
    assert.equal(Number(now.get(k).c), 2 * Number(o.c), `window ${k}: ${now.get(k).c} rows, ${o.c} before the run`);
    assert.equal(BigInt(now.get(k).h), (2n * BigInt(o.h)) % 2n ** 64n, `window ${k}: its rows, twice`);
  }
  const after = fs.readFileSync(eventFile, 'utf8').slice(cut).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const succeeded = new Map(after.filter((e) => e.event === 'chunk_succeeded').map((e) => [e.chunk, e]));
  for (let k = 0; k < 16; k++) assert.equal(succeeded.get(k)?.recovered, true, `chunk ${k} was inserted before the power went: found, not sent again`);
  for (const k of notSent) assert.equal(succeeded.get(k)?.rows, 15, `chunk ${k}: inserted by the resume`);
  // The announced chunks were counted as attempts that may have been sent: the resume's are their second.
  const starts = new Map(after.filter((e) => e.event === 'chunk_started').map((e) => [e.chunk, e.attempt]));
  assert.equal(starts.get(20), 2);
  assert.equal(starts.get(40), 1);
});

test('power loss after an announcement, mv_replay: resent chunks write nothing twice; only those whose view gives rows are unverified', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 0.25 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 12, rowsPerHour: 60 });
  // 02:00–03:00 holds no events: four chunks whose replay gives no rows.
  await p.exec(
    "ALTER TABLE app.events DELETE WHERE event_time >= toDateTime('2025-01-01 02:00:00', 'UTC') AND event_time < toDateTime('2025-01-01 03:00:00', 'UTC') SETTINGS mutations_sync = 2",
    'CREATE TABLE app.per_q (q DateTime, n UInt64) ENGINE = SummingMergeTree ORDER BY q SETTINGS non_replicated_deduplication_window = 1000',
    'CREATE MATERIALIZED VIEW app.per_q_mv TO app.per_q AS SELECT toStartOfFifteenMinutes(event_time) AS q, count() AS n FROM app.events GROUP BY q',
  );
  const planned = p.cli(['plan', '--target', 'app.per_q', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  assert.equal(planned.json.strategy, 'mv_replay');
  const { planId } = planned.json;
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const target = async () => (await p.rows('SELECT toString(q) AS q, toString(sum(n)) AS n FROM app.per_q GROUP BY q ORDER BY q')).map((r) => `${r.q}=${r.n}`);
  const once = await target();
  assert.equal(once.length, 44, 'every quarter with events, once');

  // The power went after the first announcement: its 32 chunks are resent with their tokens.
  const eventFile = path.join(p.stateDir, 'events', `${planId}.ndjson`);
  const log = fs.readFileSync(eventFile, 'utf8');
  const cut = log.indexOf('\n', log.indexOf('"event":"chunks_intended"')) + 1;
  fs.writeFileSync(eventFile, log.slice(0, cut));
  fs.rmSync(path.join(p.stateDir, 'runs', `${planId}.json`), { force: true });
  const resumed = p.cli(['resume', '--plan-id', planId]);
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.equal(resumed.json.status, 'completed');
  assert.deepEqual(await target(), once, 'the target dropped every resent chunk as a duplicate');

  const chunks = p.cli(['status', '--plan-id', planId, '--chunks']).json.chunks;
  const empty = new Set([8, 9, 10, 11]); // 02:00–03:00
  for (const [k, c] of chunks.entries()) {
    assert.equal(c.status, 'done', `chunk ${k}`);
    // Resent and written nothing: where its view gives rows, a duplicate dropped and rows never
    // written cannot be told apart; where it gives none, there is nothing to tell.
    assert.equal(!!c.unverified, k < 32 && !empty.has(k), `chunk ${k}: unverified ${c.unverified}`);
  }
});
