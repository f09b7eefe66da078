// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { corpusTests, loadShape, setUpShape } from './helpers/mv_corpus.mjs';

const p = corpusTests(['comments_strings', 'backticks', 'materialized_default', 'datetime64', 'time_alias']);

test('an alias named like the time column: a window in the WHERE would filter the alias, so the source is read through a subquery', async () => {
  const shape = loadShape('time_alias');
  await setUpShape(p, shape);
  const r = p.cli(['plan', '--target', shape.target, '--from', '2025-01-02', '--to', '2025-01-03', '--chunk-hours', '12', '--time-column', 'ts']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const sql = JSON.parse(fs.readFileSync(r.json.planPath, 'utf8')).chunks[0].statements[0].sql;
  assert.match(sql, /FROM \(SELECT `ts`, `user_id`, `kind`, `amount`, `tags` FROM `app`\.`events` WHERE `ts` >= /);
  // What the engine does with the window in place: the alias, not the column.
  const bounds = "ts >= toDateTime('2025-01-02 00:00:00', 'UTC') AND ts < toDateTime('2025-01-02 12:00:00', 'UTC')";
  const count = async (q) => Number((await p.rows(`SELECT count() AS c FROM (${q})`))[0].c);
  const inPlace = await count(`SELECT ts + INTERVAL 30 MINUTE AS ts, user_id FROM app.events WHERE ${bounds} AND (kind != 'view')`);
  const byColumn = await count(`SELECT ts, user_id FROM app.events WHERE ${bounds} AND kind != 'view'`);
  const replayed = await count(sql.split('\n').slice(2, -1).join('\n'));
  assert.equal(replayed, byColumn, 'the replay reads the window of the column');
  assert.notEqual(inPlace, byColumn, 'in place, the window would have been the alias');
});
