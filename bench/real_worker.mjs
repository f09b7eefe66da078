// One step of the real-data bench in a fresh process (chdb binds one data
// directory per process): seed the source, reset a target, run the single
// INSERT … SELECT that is the limit, or run a plan's statements directly
// (the engine's own cost of the chunks). Prints one JSON line.
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { chunkStatements } from '../dist/core/core.js';
import { readPlanFile } from '../dist/engine/plan_file.js';

const [, , step, dataDir, ...args] = process.argv;
const t0 = performance.now();
const client = createClient({ connection: createChdbConnection({ path: dataDir }) });
const exec = (query) => client.command({ query });

const ROWS = Number(process.env.BENCH_REAL_ROWS ?? 5_000_000);
const FROM = '2025-01-01 00:00:00';
const SPAN_S = 30 * 86_400;
// The view the mv_replay target is fed by, and the same query over the whole window (the limit).
const VIEW = 'SELECT toStartOfHour(event_time) AS hour, kind, count() AS events, sum(amount) AS amount FROM app.events GROUP BY hour, kind';
const hourly = `CREATE TABLE app.hourly (hour DateTime, kind LowCardinality(String), events UInt64, amount Decimal(38, 2))
  ENGINE = SummingMergeTree ORDER BY (hour, kind) SETTINGS non_replicated_deduplication_window = 1000`;
const tinyAgg = `CREATE TABLE app.tiny_agg (hour DateTime, n UInt64) ENGINE = SummingMergeTree ORDER BY hour
  SETTINGS non_replicated_deduplication_window = 1000`;
const WINDOW = `event_time >= '2025-01-01 00:00:00' AND event_time < '2025-01-31 00:00:00'`;

const steps = {
  async seed() {
    for (const q of [
      'CREATE DATABASE app',
      `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), amount Decimal(12, 2))
        ENGINE = MergeTree ORDER BY (event_time, user_id)`,
      `INSERT INTO app.events SELECT toDateTime('${FROM}', 'UTC') + intDiv(number * ${SPAN_S}, ${ROWS}) AS event_time,
        cityHash64(number) % 50000 AS user_id, ['view', 'view', 'view', 'click', 'click', 'cart', 'buy'][number % 7 + 1] AS kind,
        toDecimal64((cityHash64(number, 1) % 20000) / 100, 2) AS amount FROM numbers(${ROWS})`,
      // The table strategy re-inserts a window into its own table: a copy no view reads from.
      'CREATE TABLE app.events_t AS app.events',
      hourly,
      `CREATE MATERIALIZED VIEW app.hourly_mv TO app.hourly AS ${VIEW}`,
      // One row per chunk of 1 h: the cost around a statement that does next to nothing.
      'CREATE TABLE app.tiny (event_time DateTime, v UInt64) ENGINE = MergeTree ORDER BY event_time',
      `INSERT INTO app.tiny SELECT toDateTime('${FROM}', 'UTC') + number * 3600 + 1800, number FROM numbers(720)`,
      'CREATE TABLE app.tiny_t AS app.tiny',
      tinyAgg,
      'CREATE MATERIALIZED VIEW app.tiny_mv TO app.tiny_agg AS SELECT toStartOfHour(event_time) AS hour, count() AS n FROM app.tiny GROUP BY hour',
    ]) await exec(q);
  },
  /** A target back to its state before a backfill (and an empty deduplication log). */
  async reset(target) {
    const qs = {
      'app.hourly': ['DROP TABLE app.hourly SYNC', hourly],
      'app.tiny_agg': ['DROP TABLE app.tiny_agg SYNC', tinyAgg],
      'app.events_t': ['TRUNCATE TABLE app.events_t', 'INSERT INTO app.events_t SELECT * FROM app.events'],
      'app.tiny_t': ['TRUNCATE TABLE app.tiny_t', 'INSERT INTO app.tiny_t SELECT * FROM app.tiny'],
    }[target];
    for (const q of qs) await exec(q);
  },
  /** The single INSERT … SELECT of the whole window. */
  async limit(target) {
    const sql = {
      'app.hourly': `INSERT INTO app.hourly ${VIEW.replace('GROUP BY', `WHERE ${WINDOW} GROUP BY`)}`,
      'app.events_t': `INSERT INTO app.events_t SELECT * FROM app.events_t WHERE ${WINDOW}`,
    }[target];
    const s0 = performance.now();
    await exec(sql);
    return { statementMs: performance.now() - s0 };
  },
  /** Every statement of a plan in order, as the plan writes them: what the engine alone costs. */
  async direct(planFile) {
    const plan = readPlanFile(planFile);
    let statementMs = 0;
    for (let i = 0; i < plan.chunkCount; i++) {
      for (const st of chunkStatements(plan.chunk(i), plan.target)) {
        const s0 = performance.now();
        await exec(st.sql);
        statementMs += performance.now() - s0;
      }
    }
    return { statementMs, statements: plan.chunkCount * (plan.chunk(0).statements?.length ?? 1) };
  },
  async count(table) {
    const [r] = await (await client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })).json();
    return { rows: Number(r.n) };
  },
};

try {
  const out = (await steps[step](...args)) ?? {};
  await client.close();
  console.log(JSON.stringify({ step, wallMs: performance.now() - t0, ...out }));
} catch (err) {
  console.error(err?.stack ?? err);
  process.exit(1);
}
