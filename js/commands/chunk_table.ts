// `status --chunks`: the chunk rows as a table that fits the terminal.
import type { ChunkRow } from '../engine/chunk_rows.js';

const short = (iso: string) => `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;

function seconds(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** The table for humans, each line within `width` columns. */
export function chunkTableLines(rows: ChunkRow[], width = 80): string[] {
  const n = String(Math.max(1, ...rows.map((r) => r.index))).length;
  // Expected rows beside the rows written, when the plan was sized by volume.
  const withExpected = rows.some((r) => r.expectedRows !== undefined);
  const expected = (r?: ChunkRow) => (withExpected ? ` ${(r ? String(r.expectedRows ?? '-') : 'expected').padStart(10)}` : '');
  const head = `  ${'#'.padStart(n)}  ${'window (UTC)'.padEnd(25)} ${'status'.padEnd(8)} ${'try'.padStart(3)}${expected()} ${'rows'.padStart(10)} ${'time'.padStart(6)}  error`;
  const lines = [head];
  for (const r of rows) {
    const err = r.lastError
      ? `${r.needsOperator ? '[operator] ' : ''}${r.lastError.code ?? r.lastError.origin}: ${r.lastError.message.split('\n')[0]}`
      : r.unverified
        ? '[unverified] re-sent after a crash, wrote no rows'
        : '';
    let line = `  ${String(r.index).padStart(n)}  ${`${short(r.from)} → ${short(r.to)}`.padEnd(25)} ${r.status.padEnd(8)} ${String(r.attempts).padStart(3)}${expected(r)} ${String(r.rowsWritten).padStart(10)} ${seconds(r.durationMs).padStart(6)}  ${err}`.trimEnd();
    if ([...line].length > width) line = [...line].slice(0, width - 1).join('') + '…';
    lines.push(line);
  }
  return lines;
}
