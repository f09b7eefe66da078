// Opening a run from its files the way every command does (runs.openRun): the
// snapshot, then the event log streamed into the core in blocks. A log of
// several blocks, a snapshot taken mid-log, a missing or corrupt snapshot and a
// torn last line all load to the same state. No ClickHouse: only state files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPlanFile } from '../dist/core/core.js';
import { planFromBytes } from '../dist/engine/plan_file.js';
import { openRun } from '../dist/engine/runs.js';
import { eventPath, EventLog, readPlan, runPath, statePaths } from '../dist/engine/store.js';

const CHUNKS = 50_000; // about 12 MB of events: three of the reader's 4 MB blocks

function setup(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-run-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const paths = statePaths(dir);
  const bytes = buildPlanFile({
    options: { defaults: { timeColumn: 'event_time', chunkHours: 0.25 }, limits: { maxWindowHours: 1e6 } },
    target: 'app.events',
    from: '2020-01-01T00:00:00Z',
    to: new Date(Date.parse('2020-01-01T00:00:00Z') + CHUNKS * 900_000).toISOString(),
    forceLargeWindow: true,
    now: '2026-01-01T00:00:00Z',
  });
  const planId = planFromBytes(bytes, 'test').planId;
  fs.mkdirSync(paths.plans, { recursive: true });
  fs.writeFileSync(path.join(paths.plans, `${planId}.json`), bytes);
  return { paths, plan: readPlan(paths, planId) };
}

/** Run every chunk through the machine (each done with one row); a snapshot text is kept after `snapAt` chunks. */
function runAll(paths, plan, snapAt) {
  const { machine } = openRun(paths, plan, 'default');
  const log = new EventLog(eventPath(paths, plan.planId), 0);
  const settings = { maxParallelChunks: 1, maxRetriesPerChunk: 3, retryDelayMs: 10 };
  log.append(machine.apply({ event: 'run_started', mode: 'run', compatibility: 'c', pid: 1, host: 'h', replayDone: false, replayFailed: false, settings, forced: [] }, 1));
  let midSnapshot;
  for (let i = 0; ; i++) {
    if (i === snapAt) midSnapshot = machine.snapshot(log.bytes);
    const [a] = machine.nextActions(2, 0);
    if (a.action === 'finish') {
      log.append(machine.apply({ event: 'run_finished', status: a.status }, 3));
      break;
    }
    log.append(machine.apply({ event: 'chunk_started', chunk: a.chunk, chunkId: a.chunkId, attempt: a.attempt, queryId: a.queryIds[0] }, 2));
    log.append(machine.apply({ event: 'chunk_succeeded', chunk: a.chunk, rows: 1 }, 2));
  }
  log.close();
  const final = { summary: machine.summary(), snapshot: machine.snapshot(log.bytes) };
  machine.close();
  return { ...final, midSnapshot, logBytes: fs.statSync(eventPath(paths, plan.planId)).size };
}

function load(paths, plan) {
  const run = openRun(paths, plan, 'default');
  try {
    return { summary: run.summary, report: run.machine.report, snapshot: run.machine.snapshot(run.machine.report.logBytes) };
  } finally {
    run.machine.close();
  }
}

test(`a run of ${CHUNKS} chunks loads to the same state from a mid-log snapshot, no snapshot, a corrupt one, and with a torn tail`, (t) => {
  const { paths, plan } = setup(t);
  const done = runAll(paths, plan, 12_345);
  assert.equal(done.summary.status, 'completed');
  assert.equal(done.summary.rowsWritten, CHUNKS);
  assert.ok(done.logBytes > 2 * (4 << 20), `log of ${done.logBytes} bytes spans several blocks`);
  const events = 2 + 2 * CHUNKS;
  const same = (l, what) => {
    assert.deepEqual(l.summary, done.summary, what);
    assert.equal(l.snapshot, done.snapshot, what);
    assert.equal(l.report.logBytes, done.logBytes, what);
  };

  // Snapshot taken after 12,345 chunks: the rest of the log is replayed from its offset.
  fs.mkdirSync(paths.runs, { recursive: true });
  fs.writeFileSync(runPath(paths, plan.planId), done.midSnapshot + '\n');
  let l = load(paths, plan);
  same(l, 'mid-log snapshot');
  assert.equal(l.report.eventsReplayed, 2 * (CHUNKS - 12_345) + 1);
  assert.equal(l.report.snapshotRebuilt, false);

  // No snapshot: the whole log.
  fs.rmSync(runPath(paths, plan.planId));
  l = load(paths, plan);
  same(l, 'no snapshot');
  assert.equal(l.report.eventsReplayed, events);

  // A corrupt snapshot, and one whose offset is not a line end: rebuilt from the whole log.
  fs.writeFileSync(runPath(paths, plan.planId), '{"version":1,"planId"');
  l = load(paths, plan);
  same(l, 'corrupt snapshot');
  assert.equal(l.report.snapshotRebuilt, true);
  const shifted = JSON.parse(done.midSnapshot);
  shifted.eventOffset -= 5;
  fs.writeFileSync(runPath(paths, plan.planId), JSON.stringify(shifted));
  l = load(paths, plan);
  same(l, 'snapshot offset inside a line');
  assert.equal(l.report.snapshotRebuilt, true);
  assert.equal(l.report.eventsReplayed, events);

  // A torn last line (a crash mid-append): reported, left out, the state unchanged.
  fs.writeFileSync(runPath(paths, plan.planId), done.midSnapshot);
  fs.appendFileSync(eventPath(paths, plan.planId), '{"seq":99999999,"at":4,"event":"chunk_sta');
  l = load(paths, plan);
  same(l, 'torn tail');
  assert.equal(l.report.tornTail, true);

  // A log shorter than the snapshot says (truncated, replaced): an error, never a fresh state.
  const full = fs.readFileSync(eventPath(paths, plan.planId));
  fs.writeFileSync(eventPath(paths, plan.planId), full.subarray(0, JSON.parse(done.midSnapshot).eventOffset - 1));
  assert.throws(() => load(paths, plan), (e) => e.code === 'event_log_short' && /not replacing the run state/.test(e.message));
  fs.writeFileSync(eventPath(paths, plan.planId), full);

  // A bad line in the middle is an error, never a fresh state.
  const text = fs.readFileSync(eventPath(paths, plan.planId), 'utf8');
  const at = text.indexOf('"chunk_succeeded"', 6 << 20);
  fs.writeFileSync(eventPath(paths, plan.planId), text.slice(0, at) + '"chunk_succeedeX"' + text.slice(at + 17));
  fs.rmSync(runPath(paths, plan.planId));
  assert.throws(() => load(paths, plan), (e) => e.code === 'event_log_corrupt' && /event log/.test(e.message));
});
