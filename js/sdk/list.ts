// Every plan in the state directory with its run's progress. Reads state
// files only; never opens the database.
import { planHolder } from '../engine/lock.js';
import { readRunSummary } from '../engine/runs.js';
import { listPlanIds, readPlan } from '../engine/store.js';
import type { ChunkCounts } from '../core/core.js';
import { operation } from './errors.js';
import type { BackfillConfig, Session } from './session.js';

export interface PlanListing {
  planId: string;
  target: string;
  strategy: string;
  from: string;
  to: string;
  /** The run's status; `interrupted` when it is marked running but no process can write it. */
  status: string;
  chunkCounts: ChunkCounts;
  rowsWritten: number;
  createdAt: string;
  updatedAt: string | null;
}

export interface ListResult {
  ok: true;
  command: 'list';
  stateDir: string;
  /** Most recently updated first. */
  plans: PlanListing[];
}

export function listBackfills(config: BackfillConfig | Session): Promise<ListResult> {
  return operation(config, (s) => {
    const plans = listPlanIds(s.paths).map((planId): PlanListing => {
      const plan = readPlan(s.paths, planId);
      const { summary: r } = readRunSummary(s, plan);
      const holder = planHolder(s.paths, planId);
      const status = r.status === 'running' && !holder ? 'interrupted' : (r.status ?? 'planned');
      return {
        planId,
        target: plan.target,
        strategy: plan.strategy,
        from: plan.from,
        to: plan.to,
        status,
        chunkCounts: r.chunkCounts,
        rowsWritten: r.rowsWritten,
        createdAt: plan.createdAt,
        updatedAt: r.updatedAt ? new Date(r.updatedAt).toISOString() : null,
      };
    });
    // ISO instants order as strings; localeCompare would load the collator (~10 ms) to do the same.
    const at = (p: PlanListing) => p.updatedAt ?? p.createdAt;
    plans.sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
    return { ok: true, command: 'list', stateDir: s.paths.root, plans };
  });
}
