// The plan file's layout (header line, one chunk per line) and how a run reads
// it: chunk by chunk, checked against the file it hashed and against the
// chunks the core cuts again from the plan's window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createProject, seedEvents } from './helpers/project.mjs';
import { planFromBytes, readPlanFile } from '../dist/engine/plan_file.js';

const options = { defaults: { timeColumn: 'event_time', retryDelayMs: 10 } };

/** A project with `hours` of 10 rows an hour from 2025-01-01, planned over them: → the project, the plan's answer, its text. */
async function plannedHours(t, hours) {
  const p = createProject({ options });
  t.after(p.cleanup);
  await seedEvents(p, { hours, rowsPerHour: 10 });
  const to = new Date(Date.UTC(2025, 0, 1, hours)).toISOString().replace('.000', '');
  const r = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01T00:00:00Z', '--to', to]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { p, r, original: fs.readFileSync(r.json.planPath, 'utf8') };
}

test('plan file: header on line 1, one chunk per line, and still one JSON document', (t) => {
  const p = createProject({ connection: false, options });
  t.after(p.cleanup);
  const r = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const text = fs.readFileSync(r.json.planPath, 'utf8');
  const lines = text.split('\n');
  assert.equal(lines.length, 4 + 3, 'header, 4 chunks, `]}`, and the empty string after the final newline');
  assert.match(lines[0], /^\{"planId":"[0-9a-f]{16}",.*"chunks":\[$/);
  assert.deepEqual(lines.slice(5), [']}', '']);
  const whole = JSON.parse(text);
  assert.equal(whole.chunks.length, 4);
  assert.deepEqual(JSON.parse(lines[4]), whole.chunks[3]);
  assert.deepEqual(JSON.parse(lines[2].replace(/,$/, '')), whole.chunks[1]);

  // Read as a run reads it: the header and a chunk on demand, the same values.
  const plan = readPlanFile(r.json.planPath);
  assert.equal(plan.chunkCount, 4);
  assert.equal(plan.planId, whole.planId);
  assert.deepEqual(plan.chunk(2), whole.chunks[2]);
  assert.equal('chunks' in plan, false);
  assert.throws(() => plan.chunk(4), RangeError);

  // Edited after it was hashed (plans are immutable): a chunk comes back as hashed or not at all.
  const hashed = readPlanFile(r.json.planPath);
  assert.equal(hashed.sha256, crypto.createHash('sha256').update(text).digest('hex'));
  fs.writeFileSync(r.json.planPath, text.replace('INSERT INTO', 'INSERT INTX'));
  let got;
  try {
    got = hashed.chunk(0);
  } catch (e) {
    assert.equal(e.code, 'plan_changed');
  }
  if (got) assert.deepEqual(got, whole.chunks[0]);
});

test('a reformatted plan file still runs; a chunk edited out of its window is refused before any statement', async (t) => {
  const { p, r, original } = await plannedHours(t, 12);

  // Edited: the last chunk's end moved (its id kept). The core cuts the window again and the file disagrees.
  const edited = JSON.parse(original);
  edited.chunks[1].to = '2025-01-01T11:00:00.000Z';
  fs.writeFileSync(r.json.planPath, JSON.stringify(edited));
  const refused = p.cli(['run', '--plan-id', r.json.planId]);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.equal(refused.json.code, 'plan_mismatch');
  assert.match(refused.json.error, /chunk 2 in the file is [0-9a-f]{16} 2025-01-01T06:00:00.000Z → 2025-01-01T11:00:00.000Z/);
  assert.deepEqual(p.stateFiles(), [`plans/${r.json.planId}.json`], 'no run state written');
  assert.equal(Number((await p.rows('SELECT count() AS c FROM app.events'))[0].c), 120, 'nothing inserted');

  // Indented by hand (`jq .` style): not the core's line layout, read whole, runs the same.
  fs.writeFileSync(r.json.planPath, JSON.stringify(JSON.parse(original), null, 2));
  const ran = p.cli(['run', '--plan-id', r.json.planId]);
  assert.equal(ran.code, 0, ran.stdout + ran.stderr);
  assert.equal(ran.json.chunkCounts.done, 2);
  assert.equal(ran.json.rowsWritten, 120);
  assert.equal(Number((await p.rows('SELECT count() AS c FROM app.events'))[0].c), 240);
});

test('the reader takes bytes, not characters: multi-byte text across its 1 MB blocks reads back exactly', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-plan-file-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const header = { planId: '0123456789abcdef', target: 'app.événements', strategy: 'table' };
  // 3,000 chunks of about 1 KB of two- and three-byte characters: lines straddle every block edge.
  const chunks = Array.from({ length: 3000 }, (_, i) => ({ id: `c${i}`, sqlTemplate: `/* ${'é€'.repeat(200 + (i % 7))} */ SELECT ${i}` }));
  const text = `${JSON.stringify({ ...header, chunks: [] }).slice(0, -3)}[\n${chunks.map((c) => JSON.stringify(c)).join(',\n')}\n]}\n`;
  const file = path.join(dir, 'plan.json');
  fs.writeFileSync(file, text);
  assert.ok(Buffer.byteLength(text) > 3 << 20);
  const plan = readPlanFile(file);
  assert.equal(plan.target, 'app.événements');
  assert.equal(plan.chunkCount, 3000);
  for (const i of [0, 1, 977, 1999, 2999]) assert.deepEqual(plan.chunk(i), chunks[i]);
  assert.equal(plan.sha256, crypto.createHash('sha256').update(text).digest('hex'));
  // The file changes after it was hashed: a chunk not read yet is refused, not read from the new file.
  fs.appendFileSync(file, ' ');
  assert.throws(() => plan.chunk(1500), (e) => e.code === 'plan_changed' && /changed after it was read/.test(e.message));
});

test('list and status summarise a plan from its header and first chunk; run still reads and checks every line', async (t) => {
  const { p, r, original } = await plannedHours(t, 24);
  const whole = JSON.parse(original);
  assert.deepEqual(readPlanFile(r.json.planPath).firstChunk(), whole.chunks[0]);
  assert.deepEqual(planFromBytes(Buffer.from(original), 'a plan in memory').firstChunk(), whole.chunks[0]);

  // The last chunk's line made unreadable: the summaries do not read it, so they still answer.
  const lines = original.split('\n');
  lines[4] = lines[4].slice(0, 40);
  fs.writeFileSync(r.json.planPath, lines.join('\n'));
  const status = p.cli(['status', '--plan-id', r.json.planId]);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.equal(status.json.status, 'planned');
  assert.equal(status.json.chunkCounts.total, 4);
  const list = p.cli(['list']);
  assert.equal(list.code, 0, list.stdout + list.stderr);
  assert.deepEqual(list.json.plans.map((l) => [l.planId, l.chunkCounts.total]), [[r.json.planId, 4]]);
  // Listing every chunk reads them: the damage is named.
  const chunks = p.cli(['status', '--plan-id', r.json.planId, '--chunks']);
  assert.equal(chunks.code, 1, chunks.stdout);
  assert.equal(chunks.json.code, 'plan_corrupt');
  // run reads and checks every line before it executes anything.
  const run = p.cli(['run', '--plan-id', r.json.planId]);
  assert.equal(run.code, 1, run.stdout);
  assert.equal(run.json.code, 'plan_mismatch');
  assert.match(run.json.error, /chunk 4/);
  assert.equal(Number((await p.rows('SELECT count() AS c FROM app.events'))[0].c), 240, 'nothing inserted');

  // The first chunk is still checked against the window's cut by the summaries.
  const edited = original.split('\n');
  edited[1] = edited[1].replace('"to":"2025-01-01T06:00:00.000Z"', '"to":"2025-01-01T05:00:00.000Z"');
  assert.notEqual(edited[1], original.split('\n')[1]);
  fs.writeFileSync(r.json.planPath, edited.join('\n'));
  const refused = p.cli(['status', '--plan-id', r.json.planId]);
  assert.equal(refused.code, 1, refused.stdout);
  assert.equal(refused.json.code, 'plan_mismatch');
  assert.match(refused.json.error, /chunk 1 in the file is [0-9a-f]{16} 2025-01-01T00:00:00.000Z → 2025-01-01T05:00:00.000Z/);

  // Not the core's layout (indented by hand): the first chunk comes from the whole document.
  fs.writeFileSync(r.json.planPath, JSON.stringify(whole, null, 2));
  assert.deepEqual(readPlanFile(r.json.planPath).firstChunk(), whole.chunks[0]);
  const indented = p.cli(['status', '--plan-id', r.json.planId]);
  assert.equal(indented.code, 0, indented.stdout + indented.stderr);
  assert.equal(indented.json.chunkCounts.total, 4);
});
