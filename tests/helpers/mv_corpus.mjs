// The materialized-view corpus (tests/mv_corpus/*.json) end to end on the
// embedded engine: create source, target and views; insert a month of source
// rows so the live views fill the target; snapshot the merged target; empty
// it; plan mv_replay over the month with small chunks; `run` it; compare.
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { ROOT, createProject } from './project.mjs';
import { chunkStatements } from '../../dist/core/core.js';

export const FROM = '2025-01-01';
export const TO = '2025-01-31';

export function loadShape(name) {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'mv_corpus', `${name}.json`), 'utf8'));
}

/** Execute every statement of every chunk in order, as the run driver does. */
export async function replayPlan(project, plan, { times = 1 } = {}) {
  await project.withDb(async (db) => {
    for (let i = 0; i < times; i++) {
      for (const chunk of plan.chunks) {
        for (const st of chunkStatements(chunk, plan.target)) await db.exec(st.sql);
      }
    }
  });
}

/** Set up one shape in a fresh `app` database; returns the live views' snapshot. */
export async function setUpShape(project, shape) {
  await project.exec('DROP DATABASE IF EXISTS app SYNC', 'CREATE DATABASE app', ...shape.ddl);
  await project.exec(...shape.views.map((v) => `CREATE MATERIALIZED VIEW ${v.name} TO ${shape.target} AS ${v.query}`));
  await project.exec(...shape.seed);
  const snapshot = await project.rows(shape.snapshot);
  assert.ok(snapshot.length > 0, 'the live views wrote rows');
  await project.exec(`TRUNCATE TABLE ${shape.target}`);
  assert.deepEqual(await project.rows(shape.snapshot.replace(/ORDER BY .*$/, 'LIMIT 1')), [], 'target emptied');
  return snapshot;
}

/** The whole round trip for one shape; returns the plan for further checks. */
export async function roundTrip(project, name, { chunkHours = '12' } = {}) {
  const shape = loadShape(name);
  const snapshot = await setUpShape(project, shape);
  const args = ['plan', '--target', shape.target, '--from', FROM, '--to', TO, '--chunk-hours', chunkHours];
  if (shape.timeColumn) args.push('--time-column', shape.timeColumn);
  const r = project.cli(args);
  assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
  assert.equal(r.json.strategy, 'mv_replay', name);
  const plan = JSON.parse(fs.readFileSync(r.json.planPath, 'utf8'));
  assert.deepEqual(plan.views.map((v) => v.name).sort(), shape.views.map((v) => v.name).sort());
  assert.equal(plan.chunks.length, 720 / Number(chunkHours));
  for (const c of plan.chunks) assert.equal(c.statements.length, shape.views.length);
  const run = project.cli(['run', '--plan-id', plan.planId]);
  assert.equal(run.code, 0, `${name}: ${run.stdout}${run.stderr}`);
  assert.equal(run.json.status, 'completed');
  assert.equal(run.json.chunkCounts.done, plan.chunks.length);
  const after = await project.rows(shape.snapshot);
  assert.deepEqual(after, snapshot, `${name}: replayed target equals the live views' target`);
  // Rows written are the server's rows, not a guess: on a plain MergeTree every inserted row stays.
  const [db, table] = shape.target.replace(/`/g, '').split('.');
  const [{ engine, rows }] = await project.rows(
    `SELECT engine, (SELECT count() FROM ${shape.target}) AS rows FROM system.tables WHERE database = '${db}' AND name = '${table}'`,
  );
  if (engine === 'MergeTree') assert.equal(run.json.rowsWritten, Number(rows), `${name}: rowsWritten`);
  else assert.ok(run.json.rowsWritten >= Number(rows) && Number(rows) > 0, `${name}: rowsWritten ${run.json.rowsWritten} ≥ ${rows}`);
  return { plan, shape, snapshot, json: r.json };
}

/** A test per shape, all sharing one project (one data directory) for the file. */
export function corpusTests(names) {
  const project = createProject({ options: {} });
  after(project.cleanup);
  for (const name of names) test(`${name}: replay equals the live view`, () => roundTrip(project, name));
  return project;
}
