// Baselines of a whole `table` run at once: instead of counting each chunk's window
// before its first insert, one GROUP BY over the plan's chunk grid at run start, logged
// as `windows_measured` (with each window's checksum, as `chunk_measured` records it for
// `verify`) before the first statement. Valid under the assumption every row-count check
// already makes: nothing else writes to the target's window during the run.
import { gridCountable, parseTable, type RunEvent, type RunMachine } from '../core/core.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { tableColumns } from '../server/schema_info.js';
import type { Plan } from './plan_file.js';

/** Events of at most this many chunks: a plan of 100,000 chunks logs a few lines, none huge. */
const PER_EVENT = 10_000;

/**
 * Measure every chunk that will run unmeasured, when the time column's instants convert
 * exactly to the grid's milliseconds; otherwise (or when a count fails) the chunks left are
 * counted one by one, as without the grid. Chunks far apart take a count each span (the core
 * gives the next once the one before is recorded). → the number of chunks measured.
 */
export async function measureWindows(ch: ClickHouse, plan: Plan, machine: RunMachine, record: (e: RunEvent) => void): Promise<number> {
  let measured = 0;
  let first: number | undefined;
  for (let grid = machine.baselineGrid(); grid && grid.chunks[0] !== first; grid = machine.baselineGrid()) {
    first = grid.chunks[0]; // a grid that comes back was not recorded: stop rather than count it again
    let rows: { __chkit_chunk: string | number; __chkit_c: string | number; __chkit_h1?: string; __chkit_h2?: string }[];
    try {
      if (measured === 0 && !(await timeColumnOnGrid(ch, plan))) return 0;
      rows = await ch.query(grid.sql);
    } catch {
      // A table that cannot be read fails its chunks one by one, with their retries and errors.
      return measured;
    }
    const counts = new Map(rows.map((r) => [Number(r.__chkit_chunk), { c: Number(r.__chkit_c), h: `${r.__chkit_h1 || 0}:${r.__chkit_h2 || 0}` }]));
    for (let i = 0; i < grid.chunks.length; i += PER_EVENT) {
      const chunks = grid.chunks.slice(i, i + PER_EVENT);
      const before = chunks.map((k) => counts.get(k)?.c ?? 0);
      record({ event: 'windows_measured', chunks, before, expected: before, checksums: chunks.map((k) => counts.get(k)?.h ?? '0:0') });
    }
    measured += grid.chunks.length;
  }
  return measured;
}

/** Whether the target's time column converts exactly to the milliseconds a chunk grid divides. */
export async function timeColumnOnGrid(ch: ClickHouse, plan: Plan): Promise<boolean> {
  const t = parseTable(plan.target, ch.environment.database, '--target');
  const type = (await tableColumns(ch, t.database, t.table))?.find((c) => c.name === plan.timeColumn)?.type;
  return type !== undefined && gridCountable(type);
}
