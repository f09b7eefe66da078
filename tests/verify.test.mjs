// `verify` end to end on the embedded engine: a finished run verifies ok; damage to
// the target (a chunk's rows deleted, a chunk inserted twice, one value changed) is
// named chunk by chunk with the right verdict; status, doctor and check report it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';

const WINDOW = ['--from', '2025-01-01', '--to', '2025-01-02'];
const hour = (n) => `toDateTime('2025-01-01 00:00:00', 'UTC') + ${n * 3600}`;
/** Chunk n (1-based) of 1-hour chunks from 2025-01-01. */
const chunkWindow = (n) => `event_time >= ${hour(n - 1)} AND event_time < ${hour(n)}`;

function verdicts(json) {
  return Object.fromEntries(json.chunks.filter((c) => c.verdict !== 'ok').map((c) => [c.index, c.verdict]));
}

/** Damage three chunks: delete chunk 3's rows, insert chunk 7 once more, change one value in chunk 12. */
async function damage(p, table, { insertFrom = table } = {}) {
  await p.exec(
    `DELETE FROM ${table} WHERE ${chunkWindow(3)}`,
    `INSERT INTO ${table} SELECT event_time, user_id, kind, value FROM ${insertFrom} WHERE ${chunkWindow(7)}`,
    `ALTER TABLE ${table} UPDATE value = value + 1 WHERE event_time = ${hour(11)} AND user_id = (SELECT min(user_id) FROM ${table} WHERE event_time = ${hour(11)}) SETTINGS mutations_sync = 2`,
  );
}

test('copy: ok after the run; deleted, doubled and changed chunks are named; status, doctor and check report it', async () => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  after(p.cleanup);
  await seedEvents(p, { table: 'app.src', hours: 24, rowsPerHour: 30 });
  await p.exec(
    'CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind String, value Float64) ENGINE = MergeTree ORDER BY (event_time, user_id)',
  );
  const plan = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', ...WINDOW]);
  assert.equal(plan.code, 0, plan.stdout);
  const id = plan.json.planId;
  assert.equal(p.cli(['run', '--plan-id', id]).code, 0);

  const ok = p.cli(['verify', '--plan-id', id]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(ok.json.ok, true);
  assert.deepEqual(ok.json.summary, { chunks: 24, compared: 24, ok: 24, missing: 0, extra: 0, differs: 0, notVerifiable: 0 });
  assert.deepEqual(ok.json.chunks, [], 'only chunks that are not ok are listed without --chunks');
  const all = p.cli(['verify', '--plan-id', id, '--chunks']);
  assert.equal(all.json.chunks.length, 24);
  assert.ok(all.json.chunks.every((c) => c.verdict === 'ok' && c.contentChecked && c.expected === 30 && c.actual === 30));

  await damage(p, 'app.events', { insertFrom: 'app.src' });
  const bad = p.cli(['verify', '--plan-id', id]);
  assert.equal(bad.code, 1, bad.stdout);
  assert.equal(bad.json.ok, false);
  assert.equal(bad.json.code, 'verification_failed');
  assert.deepEqual(verdicts(bad.json), { 3: 'missing', 7: 'extra', 12: 'differs' });
  const byIndex = Object.fromEntries(bad.json.chunks.map((c) => [c.index, c]));
  assert.equal(byIndex[3].actual, 0);
  assert.equal(byIndex[7].actual, 60);
  assert.match(byIndex[7].reason, /twice/);

  // Only the chunks asked for, by number or id.
  const some = p.cli(['verify', '--plan-id', id, '--chunk', `3,${all.json.chunks[4].id}`, '--chunks']);
  assert.deepEqual(some.json.chunks.map((c) => [c.index, c.verdict]), [[3, 'missing'], [5, 'ok']]);
  const sample = p.cli(['verify', '--plan-id', id, '--sample', '4', '--chunks']);
  assert.deepEqual(sample.json.chunks.map((c) => c.index), [4, 10, 16, 22]);

  // The last verification is stored (a full one here), and status, doctor and check report it.
  const again = p.cli(['verify', '--plan-id', id]);
  assert.equal(again.code, 1);
  const stored = JSON.parse(fs.readFileSync(path.join(p.stateDir, 'runs', `${id}.verify.json`), 'utf8'));
  assert.equal(stored.ok, false);
  assert.deepEqual(stored.problems.map((c) => c.index), [3, 7, 12]);
  assert.ok(!JSON.stringify(stored).includes('password'));
  const status = p.cli(['status', '--plan-id', id]);
  assert.equal(status.json.lastVerification.ok, false);
  const statusText = p.cli(['status', '--plan-id', id], { text: true });
  assert.match(statusText.stdout, /last verification .* FAILED: 21 ok, 1 missing, 1 extra, 1 differs/);
  const doctor = p.cli(['doctor', '--plan-id', id]);
  assert.ok(doctor.json.notes.some((n) => /last verification .*FAILED/.test(n)), JSON.stringify(doctor.json.notes));
  const check = p.cli(['check']);
  assert.equal(check.code, 1);
  assert.ok(check.json.plugins.backfill.findingCodes.includes('backfill_verification_failed'));
});

test('table: every row of each window twice; damage is named; a log without checksums verifies counts only', async () => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  after(p.cleanup);
  await seedEvents(p, { table: 'app.events', hours: 24, rowsPerHour: 30 });
  const plan = p.cli(['plan', '--target', 'app.events', ...WINDOW]);
  assert.equal(plan.code, 0, plan.stdout);
  const id = plan.json.planId;
  assert.equal(p.cli(['run', '--plan-id', id]).code, 0);
  const events = path.join(p.stateDir, 'events', `${id}.ndjson`);
  // One grid count at run start (windows_measured) or one count per chunk (chunk_measured).
  const measured = fs
    .readFileSync(events, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"chunk_measured"') || l.includes('"windows_measured"'))
    .map((l) => JSON.parse(l))
    .flatMap((e) => (e.event === 'windows_measured' ? e.chunks.map((chunk, k) => ({ chunk, checksum: e.checksums[k] })) : [e]));
  assert.equal(measured.length, 24);
  assert.ok(measured.every((e) => /^\d+:x\d+$/.test(e.checksum)), 'the run records each window checksum');

  const ok = p.cli(['verify', '--plan-id', id, '--chunks']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.ok(ok.json.chunks.every((c) => c.verdict === 'ok' && c.expected === 60 && c.contentChecked));

  await damage(p, 'app.events');
  const bad = p.cli(['verify', '--plan-id', id]);
  assert.equal(bad.code, 1, bad.stdout);
  assert.deepEqual(verdicts(bad.json), { 3: 'missing', 7: 'extra', 12: 'differs' });

  // A log written before checksums were recorded: the counts are checked, the content is not claimed.
  const stripped = fs.readFileSync(events, 'utf8').replace(/,"checksum":"\d+:x?\d+"/g, '').replace(/,"checksums":\[[^\]]*\]/g, '');
  fs.writeFileSync(events, stripped);
  fs.rmSync(path.join(p.stateDir, 'runs', `${id}.json`));
  const old = p.cli(['verify', '--plan-id', id]);
  assert.equal(old.code, 1, 'the counts still find the deleted and doubled chunks');
  assert.deepEqual(verdicts(old.json), Object.fromEntries([...Array(24).keys()].map((i) => [i + 1, i === 2 ? 'missing' : i === 6 ? 'extra' : 'not_verifiable'])));
  const c12 = old.json.chunks.find((c) => c.index === 12);
  assert.match(c12.reason, /count matches .* content is not verifiable/);
  assert.equal(c12.contentChecked, false);
});

test('bad input: exit 2, nothing written', async () => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  after(p.cleanup);
  await seedEvents(p, { table: 'app.events', hours: 2, rowsPerHour: 4 });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T02:00:00Z']);
  const before = p.stateFiles();
  for (const args of [['--chunk', '3'], ['--chunk', 'nope'], ['--sample', '0'], ['--sample', 'x'], ['--sample', '1', '--chunk', '1']]) {
    const r = p.cli(['verify', '--plan-id', plan.json.planId, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
    assert.equal(r.json.ok, false);
  }
  assert.equal(p.cli(['verify', '--plan-id', 'ffffffffffffffff']).code, 2);
  assert.deepEqual(p.stateFiles(), before);
  // Before the run nothing is done: nothing compared, nothing claimed.
  const fresh = p.cli(['verify', '--plan-id', plan.json.planId]);
  assert.equal(fresh.json.summary.notVerifiable, 2);
  assert.match(fresh.json.chunks[0].reason, /pending, not done/);
});
