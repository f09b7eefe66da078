// Stopping a live run: `cancel` from a second process (ends `cancelled`,
// in-flight queries killed by the running process) and SIGTERM (ends
// `paused`); `resume` continues both to exact data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { slowCopyPlan } from './helpers/project.mjs';

/** A copy plan of 40 chunks whose INSERTs take about 0.2 s each. */
const slowCopy = (t, defaults = {}) => slowCopyPlan(t, { hours: 10, sleepPerRow: 0.02, defaults: { retryDelayMs: 10, ...defaults } });

const readEvents = (file) =>
  fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l))
    : [];

/** Poll every 50 ms, at most `polls` times (a bound in polls, not a deadline on the clock). */
async function until(fn, polls = 2400) {
  for (let i = 0; i < polls; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting');
}

async function sameAsSource(p) {
  const q = (t) => `SELECT count() AS c, toString(sum(cityHash64(event_time, user_id, kind, value))) AS h FROM ${t}`;
  assert.deepEqual(await p.rows(q('app.events')), await p.rows(q('app.src_rows')));
}

test('cancel from another process stops the run within one chunk and kills its in-flight query', async (t) => {
  const { p, planId, eventFile } = await slowCopy(t);
  const child = p.spawnCli(['run', '--plan-id', planId, '--json']);
  await until(() => readEvents(eventFile).filter((e) => e.event === 'chunk_succeeded').length >= 2);
  const c = p.cli(['cancel', '--plan-id', planId]);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.equal(c.json.status, 'cancelled');
  assert.equal(c.json.stoppedProcess, child.pid);
  const { code } = await child.done;
  assert.equal(code, 1);
  assert.equal(JSON.parse(child.stdoutText).status, 'cancelled');

  const ev = readEvents(eventFile);
  const at = ev.findIndex((e) => e.event === 'cancel_requested');
  assert.ok(at > 0);
  const after = ev.slice(at + 1);
  assert.equal(after.filter((e) => e.event === 'chunk_started').length, 0, 'no chunk started after the request');
  // Chunks are logged done after their windows are counted, several at once: what finished after
  // the request is what returned from its INSERT after it.
  assert.ok(after.filter((e) => e.event === 'chunk_inserted').length <= 1, 'at most the chunk in flight finished');
  // The chunk in flight was killed, or (rarely) its statement finished before the KILL reached it.
  const interrupted = after.filter((e) => e.event === 'chunk_interrupted');
  const killed = after.filter((e) => e.event === 'note' && /killed its in-flight query; the server no longer lists it/.test(e.message));
  const raced = after.filter((e) => e.event === 'note' && /finished before the kill reached it/.test(e.message));
  assert.equal(interrupted.length + raced.length, 1, JSON.stringify(after));
  assert.equal(killed.length, interrupted.length);
  assert.deepEqual(await p.rows("SELECT query FROM system.processes WHERE query LIKE '%chkit-backfill qid=%' AND query NOT LIKE '%system.processes%'"), []);

  const s = p.cli(['status', '--plan-id', planId]);
  assert.equal(s.json.status, 'cancelled');
  assert.ok(s.json.chunkCounts.done >= 2 && s.json.chunkCounts.done < 40);
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.chunkCounts.done, 40);
  await sameAsSource(p);
});

test('SIGTERM pauses the run after its in-flight chunk; resume continues to exact data', async (t) => {
  const { p, planId, eventFile } = await slowCopy(t, { maxParallelChunks: 2 });
  const child = p.spawnCli(['run', '--plan-id', planId, '--json']);
  await until(() => readEvents(eventFile).filter((e) => e.event === 'chunk_succeeded').length >= 2);
  child.kill('SIGTERM');
  const { code } = await child.done;
  assert.equal(code, 1, child.stderrText);
  const out = JSON.parse(child.stdoutText);
  assert.equal(out.status, 'paused');
  assert.equal(out.chunkCounts.running, 0);
  const ev = readEvents(eventFile);
  const at = ev.findIndex((e) => e.event === 'pause_requested');
  assert.equal(ev[at].signal, 'SIGTERM');
  assert.equal(ev.slice(at).filter((e) => e.event === 'chunk_started').length, 0);
  assert.equal(p.cli(['status', '--plan-id', planId]).json.status, 'paused');
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.status, 'completed');
  await sameAsSource(p);
});

test('an interrupted chunk whose window changed meanwhile stops for the operator; --replay-failed after repair completes', async (t) => {
  const { p, planId, eventFile } = await slowCopy(t);
  // Cancel until a chunk was caught in flight (a cancel can land between two chunks).
  let interrupted;
  for (let tries = 0; !interrupted && tries < 5; tries++) {
    const seen = readEvents(eventFile).filter((e) => e.event === 'chunk_succeeded').length;
    const child = p.spawnCli([tries === 0 ? 'run' : 'resume', '--plan-id', planId, '--json']);
    await until(() => readEvents(eventFile).filter((e) => e.event === 'chunk_succeeded').length > seen);
    assert.equal(p.cli(['cancel', '--plan-id', planId]).code, 0);
    await child.done;
    interrupted = readEvents(eventFile).find((e) => e.event === 'chunk_interrupted');
  }
  assert.ok(interrupted, 'a chunk was in flight');
  assert.ok(readEvents(eventFile).some((e) => e.event === 'note' && /killed its in-flight query; the server no longer lists it/.test(e.message)));
  const plan = JSON.parse(fs.readFileSync(eventFile.replace('/events/', '/plans/').replace(/\.ndjson$/, '.json'), 'utf8'));
  const chunk = plan.chunks[interrupted.chunk];
  // Something else writes into that chunk's window while the run is stopped.
  await p.exec(`INSERT INTO app.events SELECT parseDateTimeBestEffort('${chunk.from}') + 1, 7, 'x', 0 FROM numbers(3)`);
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.json.status, 'failed');
  assert.equal(r.json.chunkCounts.failed, 1);
  assert.equal(r.json.chunksNeedingOperator, 1);
  assert.equal(r.json.lastError.type, 'UNKNOWN_OUTCOME');
  // 3 foreign rows, plus the chunk's own 10 when its INSERT committed just before the kill landed.
  assert.match(r.json.lastError.message, new RegExp(`chunk ${chunk.id}: the window holds (3|13) rows in the target; before the first attempt it held 0 and one execution adds 10`));
  // Plain resume does not retry it: re-running could double rows.
  const again = p.cli(['resume', '--plan-id', planId]);
  assert.equal(again.code, 1);
  assert.equal(again.json.attempts, r.json.attempts);
  // The operator repairs the window (empties it, as before the first attempt) and decides to replay.
  await p.exec(`DELETE FROM app.events WHERE event_time >= parseDateTimeBestEffort('${chunk.from}') AND event_time < parseDateTimeBestEffort('${chunk.to}')`);
  const replay = p.cli(['resume', '--plan-id', planId, '--replay-failed']);
  assert.equal(replay.code, 0, replay.stdout);
  assert.equal(replay.json.chunkCounts.done, 40);
  await sameAsSource(p);
});
