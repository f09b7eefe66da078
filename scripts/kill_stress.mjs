// Kill/resume stress for the copy strategy with chunks in parallel, checking
// after every SIGKILL what the kill test only checks at the end: each chunk the
// run state calls done has exactly its rows in the target, and no window has
// more. Part of `npm run soak`. Exit 0 when the run completes clean, 1 on a
// broken invariant or a failed run (its chunk events are printed).
// Env: PARALLEL (4), CHUNKS (400), CYCLES (400), SLEEP (seconds per source row,
// 0.005), DELAY_MIN / DELAY_SPAN (ms before the kill, 100 / 1500).
import fs from 'node:fs';
import { createProject, seedEvents } from '../tests/helpers/project.mjs';

const env = (k, d) => Number(process.env[k] ?? d);
const PARALLEL = env('PARALLEL', 4);
const CHUNKS = env('CHUNKS', 400);
const CYCLES = env('CYCLES', 400);
const SLEEP = env('SLEEP', 0.005);
const DELAY_MIN = env('DELAY_MIN', 100);
const DELAY_SPAN = env('DELAY_SPAN', 1500);
const ROWS_PER_CHUNK = 10;
const FROM = '2025-01-01T00:00:00Z';
const TO = new Date(Date.parse(FROM) + CHUNKS * 900_000).toISOString();

const p = createProject({
  options: {
    defaults: { timeColumn: 'event_time', chunkHours: 0.25, maxParallelChunks: PARALLEL, retryDelayMs: 10 },
    limits: { maxWindowHours: 1e6 },
  },
});
let clean = false;
try {
  await seedEvents(p, { table: 'app.src_rows', hours: CHUNKS / 4 + 2, rowsPerHour: 4 * ROWS_PER_CHUNK });
  await p.exec(
    `CREATE VIEW app.src AS SELECT event_time, user_id, kind, value + sleepEachRow(${SLEEP}) AS value FROM app.src_rows`,
    `CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64)
     ENGINE = MergeTree ORDER BY (event_time, user_id) SETTINGS non_replicated_deduplication_window = 1000`,
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', FROM, '--to', TO]);
  if (planned.code !== 0) throw new Error(planned.stdout + planned.stderr);
  const planId = planned.json.planId;
  const story = (eventPath, chunks) => {
    const lines = fs.readFileSync(eventPath, 'utf8').split('\n');
    return chunks.map((k) => lines.filter((l) => l.includes(`"chunk":${k},`)).join('\n')).join('\n');
  };
  for (let c = 0; c < CYCLES; c++) {
    const child = p.spawnCli([c === 0 ? 'run' : 'resume', '--plan-id', planId, '--json']);
    const timer = setTimeout(() => child.kill('SIGKILL'), DELAY_MIN + Math.random() * DELAY_SPAN);
    const { code, signal } = await child.done;
    clearTimeout(timer);
    const st = p.cli(['status', '--plan-id', planId, '--chunks']).json;
    const rows = await p.rows(
      `SELECT intDiv(toUnixTimestamp(event_time) - toUnixTimestamp(parseDateTimeBestEffort('${FROM}')), 900) AS k, count() AS c FROM app.events GROUP BY k`,
    );
    const have = new Map(rows.map((r) => [Number(r.k), Number(r.c)]));
    const bad = st.chunks
      .filter((ch) => (ch.status === 'done' && have.get(ch.index - 1) !== ROWS_PER_CHUNK) || (have.get(ch.index - 1) ?? 0) > ROWS_PER_CHUNK)
      .map((ch) => ch.index - 1);
    console.log(`cycle ${c}: ${signal ?? `exit ${code}`}, ${st.chunkCounts.done} done, ${rows.reduce((n, r) => n + Number(r.c), 0)} rows`);
    if (bad.length || code === 1) {
      console.log(bad.length ? `broken: chunks ${bad.join(', ')}` : `the run failed: ${st.lastError?.message}`);
      console.log(story(st.eventPath, bad.length ? bad : st.chunks.filter((ch) => ch.status === 'failed').map((ch) => ch.index - 1)));
      console.log(`project kept at ${p.dir}`);
      process.exit(1);
    }
    if (code === 0) {
      clean = st.chunkCounts.done === CHUNKS;
      const log = fs.readFileSync(st.eventPath, 'utf8');
      const n = (re) => (log.match(re) ?? []).length;
      console.log(`${n(/"recovered":true/g)} chunks found applied after a kill, ${n(/sent again without deduplication/g)} retries sent without deduplication`);
      break;
    }
  }
  if (!clean) throw new Error(`the run did not complete within ${CYCLES} cycles`);
  console.log('clean: every chunk done, every window exactly its rows');
} finally {
  if (clean) p.cleanup();
}
