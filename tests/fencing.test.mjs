// One writer per plan, with real processes on the embedded engine: a stopped
// run keeps its lock, a run that lost its lock stops before its next statement
// and its next log line (exit 1), a same-host holder is judged by its process
// (start time included), another host's by its heartbeat, and the overlap
// policy is per environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { slowCopyPlan } from './helpers/project.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll every 50 ms, at most `polls` times (a bound in polls, not a deadline on the clock). */
async function until(what, cond, polls = 2400) {
  for (let i = 0; i < polls; i++) {
    const v = await cond();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const logLines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith('}')) : []);
const countEvents = (file, name) => logLines(file).filter((l) => l.includes(`"event":"${name}"`)).length;

/** Rows per 15-minute chunk window of `table` (k: the chunk's index). */
const perChunk = (p, table, hours) =>
  p.rows(
    `SELECT intDiv(toUnixTimestamp(event_time) - toUnixTimestamp(toDateTime('2025-01-01 00:00:00', 'UTC')), 900) AS k, toString(count()) AS c
     FROM ${table} WHERE event_time < toDateTime('2025-01-01 00:00:00', 'UTC') + ${hours * 3600} GROUP BY k ORDER BY k`,
  );

/** Every chunk window of the target holds its source rows exactly once. */
async function assertEveryRowOnce(p, hours) {
  const src = await perChunk(p, 'app.src_rows', hours);
  assert.equal(src.length, hours * 4);
  assert.deepEqual(await perChunk(p, 'app.events', hours), src, 'each chunk window holds its source rows once');
}

const heartbeatAgeMs = (lockFile) => Date.now() - fs.statSync(lockFile).mtimeMs;

/** A slow copy plan of `hours` whose run is under way in another process, `done` chunks in. */
async function runUnderWay(t, hours, done) {
  const plan = await slowCopyPlan(t, { hours, sleepPerRow: 0.01 });
  const a = plan.p.spawnCli(['run', '--plan-id', plan.planId, '--json']);
  t.after(() => a.kill('SIGKILL'));
  await until(`${done} chunk(s) done`, () => countEvents(plan.eventFile, 'chunk_succeeded') >= done);
  return { ...plan, a };
}

test('a run stopped (SIGSTOP) past the heartbeat limit keeps its lock: resume is refused, the run continues after SIGCONT, every row once', { timeout: 240_000 }, async (t) => {
  const hours = 12;
  const { p, planId, lockFile, eventFile, a } = await runUnderWay(t, hours, 1);
  a.kill('SIGSTOP');
  // Past STALE_AFTER_MS (30 s) by the lock's own heartbeat.
  await until('a heartbeat older than 31 s', () => fs.existsSync(lockFile) && heartbeatAgeMs(lockFile) > 31_000, 1200);
  const statusJson = p.cli(['status', '--plan-id', planId]);
  const statusText = p.cli(['status', '--plan-id', planId], { text: true });
  const resumed = p.cli(['resume', '--plan-id', planId]);
  a.kill('SIGCONT');
  const ra = await a.done;

  // Exactly one writer: the data first.
  await assertEveryRowOnce(p, hours);
  // The event log loads (no line of a second writer in it), and the run completed once.
  const after = p.cli(['status', '--plan-id', planId]);
  assert.equal(after.code, 0, after.stdout + after.stderr);
  assert.equal(after.json.status, 'completed');
  assert.equal(after.json.chunkCounts.done, hours * 4);
  assert.equal(after.json.rowsWritten, hours * 40);
  assert.equal(countEvents(eventFile, 'run_started'), 1, 'no second session started');
  // Exit codes: the resume was refused (exit 2), the stopped run finished its work.
  assert.equal(resumed.code, 2, resumed.stdout + resumed.stderr);
  assert.match(resumed.json.error, new RegExp(`plan ${planId} is being run by pid ${a.pid} on ${os.hostname()}.*alive`));
  assert.match(resumed.json.error, /SIGCONT/);
  assert.equal(ra.code, 0, a.stdoutText + a.stderrText);
  assert.equal(JSON.parse(a.stdoutText).status, 'completed');
  // While it was stopped, status said so instead of "interrupted", with advice that is safe.
  assert.equal(statusJson.code, 0, statusJson.stdout);
  assert.equal(statusJson.json.status, 'running');
  assert.equal(statusJson.json.interrupted, undefined);
  assert.equal(statusJson.json.runner.pid, a.pid);
  assert.equal(statusJson.json.runner.alive, true);
  assert.equal(statusJson.json.runner.stopped, true);
  assert.ok(statusJson.json.runner.heartbeatAgeMs > 30_000, JSON.stringify(statusJson.json.runner));
  assert.doesNotMatch(statusText.stdout, /interrupted/);
  assert.match(statusText.stdout, new RegExp(`held by pid ${a.pid}.*alive.*heartbeat \\d+ s old.*stopped`, 's'));
  assert.match(statusText.stdout, /kill -CONT/);
});

test('lock file deleted mid-run: the run stops before its next statement and log line (exit 1, lock lost); resume completes, every row once', { timeout: 240_000 }, async (t) => {
  const hours = 12;
  const { p, planId, lockFile, eventFile, a } = await runUnderWay(t, hours, 2);
  fs.rmSync(lockFile);
  const startedAtRemoval = countEvents(eventFile, 'chunk_started');
  const ra = await a.done;
  assert.equal(ra.code, 1, a.stdoutText + a.stderrText);
  const out = JSON.parse(a.stdoutText);
  assert.equal(out.ok, false);
  assert.equal(out.code, 'lock_lost');
  assert.match(out.error, /lost the lock .*: the lock file was removed/);
  // No chunk started after the removal (one may have been starting at that very instant).
  assert.ok(countEvents(eventFile, 'chunk_started') <= startedAtRemoval + 1, `${countEvents(eventFile, 'chunk_started')} > ${startedAtRemoval} + 1`);
  assert.equal(countEvents(eventFile, 'run_finished'), 0, 'nothing appended after it noticed: no run_finished');
  assert.ok(!logLines(eventFile).some((l) => l.includes('lost the lock')), 'not even a note');

  const st = p.cli(['status', '--plan-id', planId]);
  assert.equal(st.code, 0, st.stdout);
  assert.equal(st.json.interrupted, true, 'no process can write any more');
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  assert.equal(r.json.rowsWritten, hours * 40);
  await assertEveryRowOnce(p, hours);
});

test('lock file replaced mid-run by another holder: the run stops before its next statement and log line (exit 1, taken over); every row once after the new owner is gone', { timeout: 240_000 }, async (t) => {
  const hours = 12;
  const { p, planId, lockFile, eventFile, a } = await runUnderWay(t, hours, 2);
  // As a takeover writes it: a new file under the lock's name (written aside, then renamed over).
  const other = { planId, target: 'app.events', pid: 424242, host: 'other-host', startedAt: new Date().toISOString(), nonce: 'someone-else' };
  fs.writeFileSync(`${lockFile}.new`, JSON.stringify(other) + '\n');
  fs.renameSync(`${lockFile}.new`, lockFile);
  const startedAtSwap = countEvents(eventFile, 'chunk_started');
  const ra = await a.done;
  assert.equal(ra.code, 1, a.stdoutText + a.stderrText);
  const out = JSON.parse(a.stdoutText);
  assert.equal(out.code, 'lock_lost');
  assert.match(out.error, /lost the lock .*: it was taken over by pid 424242 on other-host/);
  assert.ok(countEvents(eventFile, 'chunk_started') <= startedAtSwap + 1, `${countEvents(eventFile, 'chunk_started')} > ${startedAtSwap} + 1`);
  assert.equal(countEvents(eventFile, 'run_finished'), 0, 'nothing appended after it noticed');
  // The crafted holder never runs: once its lock is gone, resume completes the plan exactly.
  fs.rmSync(lockFile);
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  await assertEveryRowOnce(p, hours);
});

/** /proc/<pid>/stat field 22 (start time in clock ticks since boot). */
const procStart = (pid) => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[19];

function craftLock(file, fields, heartbeatMsAgo) {
  const beat = new Date(Date.now() - heartbeatMsAgo);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify({ target: 'app.events', startedAt: beat.toISOString(), heartbeatAt: beat.toISOString(), nonce: 'crafted', ...fields }) + '\n',
  );
  fs.utimesSync(file, beat, beat);
}

test('(crafted lock files) another host: a stale heartbeat is taken over, a fresh one is not; this host: a live process is never taken over, a reused pid is', async (t) => {
  const { p, planId, lockFile } = await slowCopyPlan(t, { hours: 2, sleepPerRow: 0 });
  craftLock(lockFile, { planId, pid: 424242, host: 'other-host' }, 1_000);
  const fresh = p.cli(['run', '--plan-id', planId]);
  assert.equal(fresh.code, 2, fresh.stdout);
  assert.match(fresh.json.error, /being run by pid 424242 on other-host/);

  // A live process of this host whose heartbeat is two minutes old (stopped, say): kept.
  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  craftLock(lockFile, { planId, pid: sleeper.pid, pidStart: procStart(sleeper.pid), host: os.hostname() }, 120_000);
  const alive = p.cli(['run', '--plan-id', planId]);
  assert.equal(alive.code, 2, alive.stdout);
  assert.match(alive.json.error, new RegExp(`being run by pid ${sleeper.pid} on ${os.hostname()}.*alive, heartbeat 1[12]\\d s old`));
  assert.equal(Number((await p.rows('SELECT count() c FROM app.events'))[0].c), 0);

  // The same pid with another start time is another process: the holder is gone.
  craftLock(lockFile, { planId, pid: sleeper.pid, pidStart: String(Number(procStart(sleeper.pid)) - 1), host: os.hostname() }, 0);
  const reused = p.cli(['run', '--plan-id', planId]);
  assert.equal(reused.code, 0, reused.stdout);
  assert.ok(reused.json.notes.some((n) => n.includes(`took over the lock of pid ${sleeper.pid}`) && /another process/.test(n)), reused.json.notes.join('\n'));

  craftLock(lockFile, { planId, pid: 424242, host: 'other-host' }, 120_000);
  const stale = p.cli(['run', '--plan-id', planId, '--replay-done']);
  assert.equal(stale.code, 0, stale.stdout);
  assert.ok(stale.json.notes.some((n) => /took over the lock of pid 424242 on other-host.*heartbeat is 1[12]\d s old/.test(n)), stale.json.notes.join('\n'));
});

test('overlap is per environment: the same target of two embedded engines runs at once; two plans on one engine do not', { timeout: 240_000 }, async (t) => {
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-backfill-state-'));
  t.after(() => fs.rmSync(shared, { recursive: true, force: true }));
  const one = await slowCopyPlan(t, { hours: 12, sleepPerRow: 0.01, options: { stateDir: shared } });
  const two = await slowCopyPlan(t, { hours: 2, sleepPerRow: 0, options: { stateDir: shared } });
  assert.notEqual(one.planId, two.planId);
  // Another plan on the same server and target, made before the first run holds the engine.
  const planned = one.p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T06:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout);
  const a = one.p.spawnCli(['run', '--plan-id', one.planId, '--json']);
  t.after(() => a.kill('SIGKILL'));
  await until('a chunk started', () => countEvents(path.join(shared, 'events', `${one.planId}.ndjson`), 'chunk_started') >= 1);
  // Same table name, other server (data directory): not an overlap.
  const other = two.p.cli(['run', '--plan-id', two.planId]);
  assert.equal(other.code, 0, other.stdout + other.stderr);
  assert.equal(Number((await two.p.rows('SELECT count() c FROM app.events'))[0].c), 80);
  // Same server, same target, another plan: refused while the first one runs.
  const same = one.p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(same.code, 2, same.stdout);
  assert.match(same.json.error, new RegExp(`another run writes to app\\.events: plan ${one.planId}`));
  assert.equal((await a.done).code, 0, a.stdoutText);
});
