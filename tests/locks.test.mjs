// Locks between real processes: one run per plan, takeover of a dead
// holder's lock, and the overlap policy per target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { slowCopyPlan } from './helpers/project.mjs';

const slowPlan = (t) => slowCopyPlan(t, { hours: 5, sleepPerRow: 0.01 });

const countRows = async (p) => Number((await p.rows('SELECT count() c FROM app.events'))[0].c);

test('two run processes on one plan at once: exactly one proceeds, the other exits 2 naming the holder', async (t) => {
  const { p, planId } = await slowPlan(t);
  const a = p.spawnCli(['run', '--plan-id', planId, '--json']);
  const b = p.spawnCli(['run', '--plan-id', planId, '--json']);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  const outs = [
    { child: a, r: ra },
    { child: b, r: rb },
  ];
  const winner = outs.find((o) => o.r.code === 0);
  const loser = outs.find((o) => o.r.code === 2);
  assert.ok(winner && loser, `exit codes ${ra.code} ${rb.code}: ${a.stdoutText}${b.stdoutText}`);
  const err = JSON.parse(loser.child.stdoutText).error;
  assert.match(err, new RegExp(`plan ${planId} is being run by pid ${winner.child.pid} on ${os.hostname()}`));
  assert.equal(await countRows(p), 200, 'the winner copied every row once');
});

test('the lock of a SIGKILLed run is taken over by the next run, with an event saying so', async (t) => {
  const { p, planId, lockFile, eventFile } = await slowPlan(t);
  const a = p.spawnCli(['run', '--plan-id', planId, '--json']);
  while (!(fs.existsSync(eventFile) && /chunk_succeeded/.test(fs.readFileSync(eventFile, 'utf8')))) await new Promise((r) => setTimeout(r, 20));
  a.kill('SIGKILL');
  await a.done;
  assert.ok(fs.existsSync(lockFile), 'the dead run left its lock');
  const s = p.cli(['status', '--plan-id', planId]);
  assert.equal(s.json.status, 'running');
  assert.equal(s.json.interrupted, true, 'status says no live process holds it');
  const r = p.cli(['resume', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.ok(r.json.notes.some((n) => n.includes(`took over the lock of pid ${a.pid}`)));
  const ev = fs.readFileSync(eventFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const taken = ev.find((e) => e.event === 'lock_taken_over');
  assert.equal(taken.previousPid, a.pid);
  assert.match(taken.reason, new RegExp(`process ${a.pid} on .* is gone`));
  assert.ok(!fs.existsSync(lockFile), 'released at the end');
  assert.equal(await countRows(p), 200);
});

function fakeLock(file, over) {
  const now = new Date().toISOString();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const info = { planId: '?', target: 'app.events', pid: 424242, host: 'other-host', startedAt: now, heartbeatAt: now, nonce: 'n0', ...over };
  fs.writeFileSync(file, JSON.stringify(info));
  // The heartbeat is the file's mtime.
  fs.utimesSync(file, new Date(info.heartbeatAt), new Date(info.heartbeatAt));
}

test('(fake lock file from another host) a fresh heartbeat blocks, a stale one is taken over', async (t) => {
  const { p, planId, lockFile } = await slowPlan(t);
  fakeLock(lockFile, { planId });
  const blocked = p.cli(['run', '--plan-id', planId]);
  assert.equal(blocked.code, 2, blocked.stdout);
  assert.match(blocked.json.error, /being run by pid 424242 on other-host/);
  assert.equal(await countRows(p), 0);
  fakeLock(lockFile, { planId, heartbeatAt: new Date(Date.now() - 120_000).toISOString() });
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.ok(r.json.notes.some((n) => /took over the lock of pid 424242 on other-host.*heartbeat is 1[12]\d s old/.test(n)), r.json.notes.join('\n'));
});

test('(empty lock file, as a lock being created looks) a fresh one blocks with a message that names no holder it cannot know; a stale one is taken over', async (t) => {
  const { p, planId, lockFile } = await slowPlan(t);
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.writeFileSync(lockFile, '');
  const blocked = p.cli(['run', '--plan-id', planId]);
  assert.equal(blocked.code, 2, blocked.stdout);
  assert.doesNotMatch(blocked.json.error, /pid 0|on \?/);
  assert.match(blocked.json.error, new RegExp(`plan ${planId} is being run by a process whose lock file ${lockFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be read yet \\(being written, or not written by this plugin\\), heartbeat `));
  assert.equal(await countRows(p), 0);
  assert.deepEqual(fs.readdirSync(path.dirname(lockFile)), [path.basename(lockFile)], 'the refused run left no draft of its own lock');
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(lockFile, old, old);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(await countRows(p), 200);
});

test('(fake live lock of another plan) blockOverlappingRuns refuses a second run on the same target of the same environment unless --force-overlap', async (t) => {
  const { p, planId } = await slowPlan(t);
  // Another plan on app.events of this embedded engine, live (this test process).
  const other = path.join(p.stateDir, 'locks', 'aaaaaaaaaaaaaaaa.lock');
  const fake = { planId: 'aaaaaaaaaaaaaaaa', pid: process.pid, host: os.hostname(), environment: `chdb:${p.dataDir}`, startedAt: '2025-01-01T00:00:00.000Z' };
  fakeLock(other, fake);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.json.error, /another run writes to app\.events: plan aaaaaaaaaaaaaaaa, pid \d+/);
  assert.equal(await countRows(p), 0);
  assert.ok(!fs.existsSync(path.join(p.stateDir, 'locks', `${planId}.lock`)), 'the refused run released its own lock');
  // --force-overlap passes the policy; the embedded engine still admits one process.
  const forced = p.cli(['run', '--plan-id', planId, '--force-overlap']);
  assert.equal(forced.code, 2, forced.stdout);
  assert.equal(forced.json.code, 'engine_busy');
  // The same target on another server is no overlap.
  fakeLock(other, { ...fake, environment: 'http://elsewhere:8123' });
  const elsewhere = p.cli(['run', '--plan-id', planId]);
  assert.equal(elsewhere.code, 0, elsewhere.stdout);
  assert.equal(await countRows(p), 200);
});

test('(fake lock and takeover guard left by dead processes) a kill mid-takeover blocks nothing', async (t) => {
  const { p, planId, lockFile } = await slowPlan(t);
  // Above the kernel's largest pid_max (2^22): no such process can exist.
  fakeLock(lockFile, { planId, host: os.hostname(), pid: 4_194_305 });
  fakeLock(`${lockFile}.takeover`, { planId, host: os.hostname(), pid: 4_194_306 });
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.ok(!fs.existsSync(`${lockFile}.takeover`));
  assert.equal(await countRows(p), 200);
});

test('plan (and plan --force) while a run holds the embedded engine is refused and deletes nothing', async (t) => {
  const { p, planId, lockFile, eventFile } = await slowCopyPlan(t, { hours: 10, sleepPerRow: 0.02 });
  const child = p.spawnCli(['run', '--plan-id', planId, '--json']);
  for (let i = 0; i < 400 && !(fs.existsSync(lockFile) && fs.existsSync(eventFile)); i++) await new Promise((r) => setTimeout(r, 50));
  const before = p.stateFiles();
  const r = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-01T10:00:00.000Z', '--force']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.json.error, new RegExp(`in use by the run of plan ${planId} \\(pid ${child.pid} `));
  assert.ok(before.every((f) => fs.existsSync(path.join(p.stateDir, f)) || f.startsWith('runs/.')), 'the run\'s state is intact');
  assert.equal(p.cli(['cancel', '--plan-id', planId]).code, 0);
  assert.equal((await child.done).code, 1);
});
