// MV replay corpus, end to end on the embedded engine (one data dir for the file):
// WITH subqueries, qualified columns and UNION ALL branches; and the shapes that
// stay refused, each next to the engine behaviour that makes a replay unsound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusTests } from './helpers/mv_corpus.mjs';

const p = corpusTests(['cte_source', 'qualified_columns', 'union_all_subquery', 'cte_union_branches']);

const EVENTS = 'CREATE TABLE app.events (ts DateTime, u UInt64) ENGINE = MergeTree ORDER BY ts';
const TGT = 'CREATE TABLE app.tgt (u UInt64, b String) ENGINE = MergeTree ORDER BY (u, b)';
// Two inserts, so two blocks reach the live view.
const INSERTS = [
  "INSERT INTO app.events VALUES ('2025-01-01 01:00:00', 1), ('2025-01-01 02:00:00', 2)",
  "INSERT INTO app.events VALUES ('2025-01-02 01:00:00', 3)",
];

/** A fresh `app` with events, tgt, maybe a dimension table, and the view on the engine. */
async function setUp(viewQuery, extra = []) {
  await p.exec('DROP DATABASE IF EXISTS app SYNC', 'CREATE DATABASE app', EVENTS, TGT, ...extra);
  await p.exec(`CREATE MATERIALIZED VIEW app.tgt_mv TO app.tgt AS ${viewQuery}`, ...INSERTS);
  return p.rows('SELECT u, b FROM app.tgt ORDER BY u, b');
}

function assertRefused(re) {
  const before = p.stateFiles();
  const r = p.cli(['plan', '--target', 'app.tgt', '--from', '2025-01-01', '--to', '2025-01-03', '--time-column', 'ts']);
  assert.equal(r.code, 2, `${re}: ${r.stdout}${r.stderr}`);
  assert.match(r.json.error, /^materialized view app\.tgt_mv: /);
  assert.match(r.json.error, re);
  assert.match(r.json.error, /it cannot be replayed safely/);
  assert.deepEqual(p.stateFiles(), before, 'nothing written');
}

test('a top-level UNION ALL is refused: the live view ran only its first SELECT', async () => {
  const live = await setUp("SELECT u, 'first' AS b FROM app.events UNION ALL SELECT u, 'second' AS b FROM app.events");
  // What the engine does, and why replaying every branch would be wrong.
  assert.deepEqual(live, [{ u: 1, b: 'first' }, { u: 2, b: 'first' }, { u: 3, b: 'first' }]);
  assertRefused(/UNION ALL at the top of the query \(a live view runs only its first SELECT on each insert/);
});

test('a UNION ALL branch reading another table is refused: the live view read it in full on every insert', async () => {
  const live = await setUp(
    "SELECT u, b FROM (SELECT u, 'src' AS b FROM app.events UNION ALL SELECT u, 'dim' AS b FROM app.dim)",
    ['CREATE TABLE app.dim (u UInt64) ENGINE = MergeTree ORDER BY u', 'INSERT INTO app.dim VALUES (100)'],
  );
  // Once per insert: a replay would repeat it once per chunk instead.
  assert.deepEqual(live.filter((r) => r.b === 'dim'), [{ u: 100, b: 'dim' }, { u: 100, b: 'dim' }]);
  assertRefused(/a UNION ALL branch reads app\.dim where the first reads app\.events/);
});

test('UNION DISTINCT, the source read twice in one branch, and a WITH subquery joined with itself are refused', async () => {
  const cases = [
    ["SELECT u, b FROM (SELECT u, 'x' AS b FROM app.events UNION DISTINCT SELECT u, 'x' AS b FROM app.events)", /UNION DISTINCT/],
    [
      "SELECT u, b FROM (SELECT u, 'x' AS b FROM app.events UNION ALL SELECT a.u AS u, 'y' AS b FROM app.events AS a JOIN app.events AS c ON a.u = c.u)",
      /the source table app\.events is read more than once/,
    ],
    [
      "WITH ok AS (SELECT u FROM app.events) SELECT a.u AS u, 'j' AS b FROM ok AS a JOIN ok AS c ON a.u = c.u",
      /the WITH subquery ok, which reads the source app\.events, is read more than once/,
    ],
  ];
  for (const [query, re] of cases) {
    const live = await setUp(query);
    assert.ok(live.length > 0, `${query}: the live view wrote rows`);
    assertRefused(re);
  }
});
