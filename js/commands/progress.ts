// Live progress for run/resume on stderr: a redrawn line on a terminal, a
// plain line every few seconds otherwise, nothing at all in --json mode.

import type { RunProgress } from '../sdk/run.js';

/** What the display shows: the SDK's progress report (the start-of-run counts and weights optional). */
export type ProgressSnapshot = Pick<RunProgress, 'total' | 'done' | 'failed' | 'rowsWritten' | 'inFlight' | 'startedAtMs' | 'nowMs'> &
  Partial<Pick<RunProgress, 'doneAtStart' | 'rowsAtStart' | 'expected' | 'inFlightRows'>>;

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function compact(n: number): string {
  if (n < 1000) return String(Math.round(n));
  for (const [d, u] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (n >= d) return `${(n / d).toFixed(n / d >= 100 ? 0 : 1)}${u}`;
  }
  return String(n);
}

/** One line, at most `width` columns. */
export function formatProgress(s: ProgressSnapshot, width = 80): string {
  const elapsed = s.nowMs - s.startedAtMs;
  const doneHere = s.done - (s.doneAtStart ?? 0);
  const rowsHere = s.rowsWritten - (s.rowsAtStart ?? 0);
  const remaining = s.total - s.done - s.failed;
  const w = s.expected;
  // Weighed by expected rows when the plan knows them.
  const eta = w && w.total > 0
    ? w.done - w.doneAtStart > 0 ? (elapsed / (w.done - w.doneAtStart)) * (w.total - w.done - w.failed) : NaN
    : doneHere > 0 ? (elapsed / doneHere) * remaining : NaN;
  const rate = elapsed > 0 ? (rowsHere * 1000) / elapsed : 0;
  const pct = w && w.total > 0
    ? Math.floor(((w.done + w.failed) / w.total) * 100)
    : s.total > 0 ? Math.floor(((s.done + s.failed) / s.total) * 100) : 100;
  const parts = [
    `${s.done}/${s.total}`,
    s.failed ? `${s.failed} failed` : '',
    `${compact(s.rowsWritten)} rows`,
    `${compact(rate)}/s`,
    `${duration(elapsed)}`,
    `ETA ${remaining === 0 ? '0s' : duration(eta)}`,
    s.inFlightRows ? `now ${compact(s.inFlightRows.read)} read, ${compact(s.inFlightRows.written)} written` : '',
  ].filter(Boolean);
  const stats = parts.join(' · ');
  // The bar shrinks first, then the in-flight list does; counts are never cut.
  const flights = s.inFlight.length ? [` [${s.inFlight.join(',')}]`, ` [${s.inFlight.length} running]`, ''] : [''];
  const flight = flights.find((f) => width - stats.length - f.length - 13 >= 0) ?? '';
  const barWidth = Math.max(5, Math.min(24, width - stats.length - flight.length - 8));
  const filled = Math.round((pct / 100) * barWidth);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${String(pct).padStart(3)}%`;
  const line = `${bar} ${stats}${flight}`;
  return line.length > width ? line.slice(0, width - 1) + '…' : line;
}

export interface ProgressSink {
  update(s: ProgressSnapshot): void;
  /** Clear the live line before other output, and at the end. */
  done(): void;
}

export function createProgress(opts: { jsonMode: boolean; stream?: NodeJS.WriteStream; plainEveryMs?: number }): ProgressSink {
  const stream = opts.stream ?? process.stderr;
  if (opts.jsonMode) return { update() {}, done() {} };
  if (stream.isTTY) {
    let drawn = false;
    return {
      update(s) {
        stream.write(`\r\x1b[2K${formatProgress(s, Math.min(stream.columns || 80, 120))}`);
        drawn = true;
      },
      done() {
        if (drawn) stream.write('\r\x1b[2K');
        drawn = false;
      },
    };
  }
  const every = opts.plainEveryMs ?? 5000;
  let last = 0;
  return {
    update(s) {
      if (s.nowMs - last < every) return;
      last = s.nowMs;
      stream.write(`progress: ${formatProgress(s, 200)}\n`);
    },
    done() {},
  };
}
