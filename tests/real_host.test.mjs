// The plugin inside a host that behaves as the real chkit CLI was measured to
// (tests/helpers/contract-host.mjs, shared/docs/chkit-host-contract.md): relative
// metaDir meant for the current directory, flags parsed only when a command
// declares some, two entry points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';
import { runPluginCommand } from './helpers/contract-host.mjs';

const planArgs = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02'];
const json = (r) => JSON.parse(r.stdout.join('\n'));

test('state resolves against the config file, wherever the command runs from', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24 });
  // This process's cwd is not the project's: a relative metaDir used as is would plan there.
  assert.notEqual(path.resolve(process.cwd()), path.resolve(p.dir));
  const stray = path.resolve(process.cwd(), 'chkit');
  const strayBefore = fs.existsSync(stray);
  const planned = await runPluginCommand(p.dir, [...planArgs, '--json']);
  assert.equal(planned.code, 0, planned.stdout.join('\n'));
  const plan = json(planned);
  assert.equal(plan.planPath, path.join(p.stateDir, 'plans', `${plan.planId}.json`));
  assert.ok(path.isAbsolute(plan.planPath));
  assert.ok(fs.existsSync(plan.planPath));
  assert.equal(fs.existsSync(stray), strayBefore, 'no state tree in the current directory');

  // The bin, from another directory with --config, finds the same plan.
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-backfill-cwd-'));
  t.after(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
  const st = p.cli(['status', '--plan-id', plan.planId, '--config', path.join(p.dir, 'clickhouse.config.ts')], { cwd: elsewhere });
  assert.equal(st.code, 0, st.stdout + st.stderr);
  assert.equal(st.json.status, 'planned');
  assert.ok(path.isAbsolute(st.json.runPath) && st.json.runPath.startsWith(p.stateDir));
  assert.deepEqual(fs.readdirSync(elsewhere), []);

  // And the contract host's status reports the same absolute paths.
  const viaHost = json(await runPluginCommand(p.dir, ['status', '--plan-id', plan.planId, '--json']));
  assert.equal(viaHost.runPath, st.json.runPath);
  assert.equal(viaHost.eventPath, st.json.eventPath);
});

test('every command declares its flags, so the real CLI rejects unknown ones everywhere', async (t) => {
  const p = createProject({ connection: false });
  t.after(p.cleanup);
  const { createBackfillPlugin } = await import('../dist/index.js');
  for (const c of createBackfillPlugin().commands) assert.ok(c.flags?.length > 0, `${c.name} declares flags`);
  for (const name of ['list', 'check']) {
    const r = await runPluginCommand(p.dir, [name, '--bogus']);
    assert.equal(r.code, 1, `${name} --bogus`);
    assert.equal(r.stderr[0], 'Unknown flag: --bogus');
    const j = await runPluginCommand(p.dir, [name, '--bogus', '--json']);
    assert.equal(j.code, 1);
    assert.deepEqual(json(j), { command: 'plugin', schemaVersion: 1, ok: false, error: 'Unknown flag: --bogus' });
    // --json alone still works.
    const ok = await runPluginCommand(p.dir, [name, '--json']);
    assert.equal(ok.code, 0, ok.stdout.join('\n'));
    assert.equal(json(ok).command, name);
  }
});

test('an option error is reported by the command, with its code, through both entry points', async (t) => {
  const p = createProject({ connection: false, options: { defaults: { chunkHours: -1 } } });
  t.after(p.cleanup);
  for (const entry of ['plugin', 'backfill']) {
    const r = await runPluginCommand(p.dir, ['list', '--json'], { entry });
    assert.equal(r.code, 2, `${entry}: ${r.stdout.join('\n')}`);
    const doc = json(r);
    assert.equal(doc.ok, false);
    assert.equal(doc.command, 'list');
    assert.equal(typeof doc.code, 'string');
    assert.match(doc.error, /chunkHours/);
  }
  const good = createProject({ connection: false });
  t.after(good.cleanup);
  const a = await runPluginCommand(good.dir, ['list', '--json'], { entry: 'plugin' });
  const b = await runPluginCommand(good.dir, ['list', '--json'], { entry: 'backfill' });
  assert.equal(a.code, 0);
  assert.deepEqual(a.stdout, b.stdout);
});
