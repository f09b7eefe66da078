// One row per chunk from the run state (`status --chunks`), with each chunk's
// last attempt duration taken from the event log.
import type { ChunkError, ChunkStatus, LogReader } from '../core/core.js';
import type { Plan } from './plan_file.js';
import type { LoadedRun } from './runs.js';

export interface ChunkRow {
  index: number;
  id: string;
  from: string;
  to: string;
  status: ChunkStatus;
  attempts: number;
  rowsWritten: number;
  /** A plan sized by rows or bytes: the rows the chunk was expected to read. */
  expectedRows?: number;
  durationMs: number | null;
  lastError: ChunkError | null;
  needsOperator: boolean;
  /** Done without a check that could confirm it (see RunSummary.unverified). */
  unverified: boolean;
}

/** Duration of each chunk's last attempt: its last start to the event that ended it. */
function durations(log: LogReader): Map<number, number> {
  const started = new Map<number, number>();
  const took = new Map<number, number>();
  for (const line of lines(log)) {
    if (!line.includes('"chunk"')) continue;
    let e: { at: number; event: string; chunk: number };
    try {
      e = JSON.parse(line);
    } catch {
      continue; // a torn last line
    }
    if (e.event === 'chunk_started') started.set(e.chunk, e.at);
    else if (['chunk_succeeded', 'chunk_failed', 'chunk_skipped', 'chunk_interrupted'].includes(e.event) && started.has(e.chunk)) {
      took.set(e.chunk, e.at - started.get(e.chunk)!);
    }
  }
  return took;
}

/** The log's lines, read a block at a time. */
function* lines(log: LogReader): Generator<string> {
  for (let from = 0; ; ) {
    const { text, atEnd } = log.read(from);
    yield* text.split('\n');
    if (atEnd) return;
    from += Buffer.byteLength(text);
  }
}

/** Failed chunks first, then plan order. */
export function chunkRows(plan: Plan, run: LoadedRun, log: LogReader): ChunkRow[] {
  const took = durations(log);
  const rows = Array.from({ length: plan.chunkCount }, (_, i): ChunkRow => {
    const c = plan.chunk(i);
    const s = run.machine.chunk(i);
    return {
      index: i + 1,
      id: c.id,
      from: c.from,
      to: c.to,
      status: s.s,
      attempts: s.a,
      rowsWritten: s.r ?? 0,
      ...(plan.volume ? { expectedRows: plan.volume.expectedRows[i] } : {}),
      durationMs: took.get(i) ?? null,
      lastError: s.e ?? null,
      needsOperator: !!s.op,
      unverified: !!s.uv,
    };
  });
  const rank = (r: ChunkRow) => (r.status === 'failed' ? 0 : 1);
  return rows.sort((a, b) => rank(a) - rank(b) || a.index - b.index);
}

