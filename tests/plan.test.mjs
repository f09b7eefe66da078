// plan on the embedded engine: ids, re-planning, --force, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';

const sha16 = (s) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 16);

test('plan id follows the documented formula, with and without a connection', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24 });
  const r = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const fp = sha16(`chdb:${p.dataDir}|app`);
  assert.equal(r.json.planId, sha16(`app.events|2025-01-01T00:00:00.000Z|2025-01-02T00:00:00.000Z|6|event_time|${fp}`));
  assert.equal(r.json.chunkCount, 4);
  assert.equal(r.json.strategy, 'table');
  assert.equal(r.json.existed, false);
  const plan = JSON.parse(fs.readFileSync(r.json.planPath, 'utf8'));
  assert.equal(plan.environment.fingerprint, fp);
  assert.equal(plan.environment.url, `chdb:${p.dataDir}`);
  // The table's columns are named explicitly.
  assert.match(plan.chunks[0].sqlTemplate, /INSERT INTO `app`.`events` \(`event_time`, `user_id`, `kind`, `value`\)/);

  const noConn = createProject({ connection: false, options: { defaults: { timeColumn: 'event_time' } } });
  t.after(noConn.cleanup);
  const r2 = noConn.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02T00:00:00+00:00', '--chunk-hours', '0.25']);
  assert.equal(r2.code, 0, r2.stdout);
  assert.equal(r2.json.planId, sha16('app.events|2025-01-01T00:00:00.000Z|2025-01-02T00:00:00.000Z|0.25|event_time'));
  assert.equal(r2.json.chunkCount, 96);
});

test('same parameters → same plan; changed plan file → error; --force → new plan', async (t) => {
  const p = createProject({ connection: false, options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-03'];
  const a = p.cli(args);
  assert.equal(a.code, 0, a.stdout);
  const b = p.cli(args);
  assert.equal(b.code, 0);
  assert.equal(b.json.planId, a.json.planId);
  assert.equal(b.json.existed, true);
  // Options that change the plan's content under the same id (requireIdempotencyToken) conflict.
  fs.writeFileSync(
    path.join(p.dir, 'clickhouse.config.ts'),
    fs.readFileSync(path.join(p.dir, 'clickhouse.config.ts'), 'utf8').replace('"timeColumn":"event_time"', '"timeColumn":"event_time","requireIdempotencyToken":false'),
  );
  const c = p.cli(args);
  assert.equal(c.code, 2, c.stdout);
  assert.match(c.json.error, /already exists with different chunks, options/);
  const d = p.cli([...args, '--force']);
  assert.equal(d.code, 0, d.stdout);
  assert.equal(d.json.existed, false);
  assert.equal(JSON.parse(fs.readFileSync(d.json.planPath, 'utf8')).options.requireIdempotencyToken, false);
});

test('bad input exits 2 with a message and writes nothing', async (t) => {
  const p = createProject({ connection: false, options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  const base = { '--target': 'app.events', '--from': '2025-01-01', '--to': '2025-01-02' };
  const cases = [
    [{ '--target': 'app.' }, /--target 'app\.' is not a table name/],
    [{ '--target': 'a.b.c' }, /not a table name/],
    [{ '--target': 'app.ev;ents' }, /not a table name/],
    [{ '--from': 'yesterday' }, /--from 'yesterday' is not a date/],
    [{ '--to': '2024-12-31' }, /--to .* must be after --from/],
    [{ '--to': '2025-03-01' }, /over limits.maxWindowHours/],
    [{ '--chunk-hours': 'six' }, /--chunk-hours 'six' is not a number/],
    [{ '--chunk-hours': '0.1' }, /below limits.minChunkMinutes/],
    [{ '--time-column': 'a b' }, /not a column name/],
    [{ '--target': undefined }, /missing --target/],
  ];
  for (const [over, re] of cases) {
    const flags = { ...base, ...over };
    const args = ['plan', ...Object.entries(flags).flatMap(([k, v]) => (v === undefined ? [] : [k, v]))];
    const r = p.cli(args);
    assert.equal(r.code, 2, `${args.join(' ')} → ${r.stdout}${r.stderr}`);
    assert.equal(r.json.ok, false);
    assert.match(r.json.error, re);
    assert.deepEqual(p.stateFiles(), [], `nothing written for ${args.join(' ')}`);
  }
  const bad = createProject({ connection: false, options: { defaults: { chunkHour: 1 } } });
  t.after(bad.cleanup);
  const r = bad.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 2);
  assert.match(r.json.error, /unknown option defaults\.chunkHour/);
});
