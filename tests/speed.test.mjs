// What makes a run cheap without dropping a check: commands that never connect load
// neither the client nor the engine, and mv_replay's rows come from one system.parts query
// per insert.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, createProject, seedEvents } from './helpers/project.mjs';

test('status, list, check and cancel load neither the ClickHouse client, the embedded engine nor the transpiler on a warm start', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 4, rowsPerHour: 4 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const id = planned.json.planId;
  // The packages, not our own shim modules (server/chdb_session.js loads chdb only when called).
  const heavy = { client: /node_modules\/@clickhouse\/client\//, engine: /node_modules\/chdb\//, babel: /babel\.cjs/ };
  const traced = (args) => {
    const trace = path.join(p.dir, `trace-${args[0]}.txt`);
    const r = spawnSync(process.execPath, ['--import', path.join(import.meta.dirname, 'helpers', 'trace_modules.mjs'), BIN, ...args, '--json'], {
      cwd: p.dir,
      encoding: 'utf8',
      env: { ...process.env, TRACE_MODULES: trace },
    });
    return { r, loaded: fs.readFileSync(trace, 'utf8') };
  };
  for (const args of [['status', '--plan-id', id, '--chunks'], ['list'], ['check'], ['cancel', '--plan-id', id]]) {
    const { r, loaded } = traced(args);
    assert.ok(r.status === 0 || (args[0] === 'check' && r.status === 1), `${args[0]}: ${r.status} ${r.stdout}${r.stderr}`);
    assert.match(loaded, /dist\/cli\/host\.js/, 'the trace sees the modules');
    for (const [name, re] of Object.entries(heavy)) assert.doesNotMatch(loaded, re, `${args[0]} loaded the ${name}`);
  }
  // A command that connects loads the client and the engine: the patterns above do match.
  const { r, loaded } = traced(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z', '--force']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(loaded, heavy.client);
  assert.match(loaded, heavy.engine);
});

test('an edited config is read again, not served from the transpile cache', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 4, rowsPerHour: 4 });
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z'];
  const first = p.cli(args);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(first.json.chunkCount, 4);
  const file = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"chunkHours":1', '"chunkHours":2'));
  const second = p.cli([...args, '--force']);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(second.json.chunkCount, 2, 'the edited chunkHours');
});
