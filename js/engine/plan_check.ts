// Before a run executes anything, every chunk line of its plan file is checked
// against the plan's header by the core (src/plan_check.rs): an edited plan is
// refused with `plan_mismatch` naming the chunk, and nothing runs. The lines
// go to the core in batches of their raw text, so a plan of 100,000 chunks is
// never held whole.
import { callCore, parseTable } from '../core/core.js';
import type { Plan } from './plan_file.js';
import { runtimeError } from '../core/errors.js';
import type { ClickHouse } from '../server/clickhouse.js';
import { tableColumns } from '../server/schema_info.js';

/** Chunk lines per call into the core (about 1 MB of a table plan). */
const BATCH = 1500;

export function verifyPlan(plan: Plan, defaultDatabase: string): void {
  const header = JSON.stringify(plan);
  const n = plan.chunkCount;
  // A file with no chunk lines still goes through once: the core says what its window cuts.
  for (let from = 0; from < Math.max(n, 1); from += BATCH) {
    const to = Math.min(n, from + BATCH);
    const checked = callCore<number>('checkPlanChunks', header, String(n), defaultDatabase, String(from), plan.chunkLines(from, to));
    if (checked !== to - from) {
      throw runtimeError('plan_mismatch', `plan ${plan.planId}: chunks ${from + 1}–${to} of the file are ${checked} chunk lines; make the plan again`);
    }
  }
}

/**
 * The columns the plan writes `DateTime` window bounds for must still be `DateTime`s on the
 * server: the core refuses one altered since (`time_column_changed`, src/plan_check.rs).
 */
export async function checkBoundTypes(ch: ClickHouse, plan: Plan): Promise<void> {
  const compared =
    plan.strategy === 'mv_replay'
      ? (plan.views ?? []).map((v) => ({ table: v.source, column: v.timeColumn, boundType: v.boundType ?? 'DateTime64' }))
      : [plan.target, plan.source].flatMap((t) => (t ? [{ table: t, column: plan.timeColumn, boundType: plan.boundType ?? 'DateTime64' }] : []));
  const columns = [];
  for (const c of compared.filter((c) => c.boundType === 'DateTime')) {
    const t = parseTable(c.table, ch.environment.database, 'plan table');
    const type = (await tableColumns(ch, t.database, t.table))?.find((col) => col.name === c.column)?.type ?? null;
    columns.push({ ...c, type });
  }
  if (columns.length > 0) callCore('checkBoundTypes', plan.planId, JSON.stringify(columns));
}
