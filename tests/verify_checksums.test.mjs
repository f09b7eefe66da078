// The window checksums a run records for `verify`: sums of cityHash64 and xxHash64 of each
// row (the second written `x<sum>`), and baselines an earlier version recorded with
// sipHash64 (no `x`) still compared under that hash, in the same log as this version's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';

const COLS = 'event_time, user_id, kind, value';
const sums = (hash) => `toString(sum(toUInt128(${hash}(tuple(${COLS})))))`;
/** Per 1-hour window of 2025-01-01: the chunk number (0-based) and the sums under each hash. */
const perWindow = `SELECT toUInt32(intDiv(toUnixTimestamp(event_time) - toUnixTimestamp(toDateTime('2025-01-01', 'UTC')), 3600)) AS k,
  ${sums('cityHash64')} AS city, ${sums('xxHash64')} AS xx, ${sums('sipHash64')} AS sip
  FROM app.events GROUP BY k ORDER BY k`;

/** `windows_measured` and `chunk_measured` of the log, one entry per chunk. */
function measured(events) {
  return fs
    .readFileSync(events, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .flatMap((e) => (e.event === 'windows_measured' ? e.chunks.map((chunk, k) => ({ chunk, checksum: e.checksums[k] })) : e.event === 'chunk_measured' ? [e] : []));
}

async function tablePlan(t) {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.events', hours: 8, rowsPerHour: 30 });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T08:00:00Z']);
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);
  const before = await p.rows(perWindow);
  assert.equal(before.length, 8);
  return { p, id: plan.json.planId, before, events: path.join(p.stateDir, 'events', `${plan.json.planId}.ndjson`) };
}

test('table: each window is recorded as its cityHash64 and xxHash64 sums before the run', async (t) => {
  const { p, id, before, events } = await tablePlan(t);
  const r = p.cli(['run', '--plan-id', id]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const got = measured(events).sort((a, b) => a.chunk - b.chunk);
  assert.deepEqual(
    got.map((e) => e.checksum),
    before.map((w) => `${w.city}:x${w.xx}`),
  );
  const v = p.cli(['verify', '--plan-id', id, '--chunks']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.ok(v.json.chunks.every((c) => c.verdict === 'ok' && c.contentChecked), JSON.stringify(v.json.chunks));
});

test('table: baselines an earlier version recorded with sipHash64 are compared under it, next to this version\'s', async (t) => {
  const { p, id, before, events } = await tablePlan(t);
  assert.equal(p.cli(['run', '--plan-id', id]).code, 0);
  // Even chunks as an earlier version recorded them: `city:sip`.
  const old = new Map(before.filter((w) => w.k % 2 === 0).map((w) => [w.k, `${w.city}:${w.sip}`]));
  const lines = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const e of lines) {
    if (e.event === 'windows_measured') e.checksums = e.chunks.map((c, k) => old.get(c) ?? e.checksums[k]);
    if (e.event === 'chunk_measured' && old.has(e.chunk)) e.checksum = old.get(e.chunk);
  }
  fs.writeFileSync(events, lines.map((e) => JSON.stringify(e)).join('\n') + '\n');
  fs.rmSync(path.join(p.stateDir, 'runs', `${id}.json`));
  const recorded = measured(events).map((e) => e.checksum);
  assert.equal(recorded.filter((h) => /^\d+:\d+$/.test(h)).length, 4, recorded.join(' '));
  assert.equal(recorded.filter((h) => /^\d+:x\d+$/.test(h)).length, 4, recorded.join(' '));

  const ok = p.cli(['verify', '--plan-id', id, '--chunks']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.ok(ok.json.chunks.every((c) => c.verdict === 'ok' && c.contentChecked), JSON.stringify(ok.json.chunks));

  // One value changed in chunk 3 (an earlier version's baseline) and in chunk 6 (this version's): same counts, other content.
  for (const h of [2, 5]) {
    await p.exec(
      `ALTER TABLE app.events UPDATE value = value + 1 WHERE event_time = toDateTime('2025-01-01 00:00:00', 'UTC') + ${h * 3600} AND user_id = (SELECT min(user_id) FROM app.events WHERE event_time = toDateTime('2025-01-01 00:00:00', 'UTC') + ${h * 3600}) SETTINGS mutations_sync = 2`,
    );
  }
  const bad = p.cli(['verify', '--plan-id', id]);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.deepEqual(
    bad.json.chunks.map((c) => [c.index, c.verdict, c.contentChecked]),
    [
      [3, 'differs', true],
      [6, 'differs', true],
    ],
  );
});
