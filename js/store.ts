// The state directory: paths, atomic writes, plan files. All state is
// JSON/NDJSON on disk; a write is either complete or not there.
import fs from 'node:fs';
import path from 'node:path';
import type { PlanState } from './core.js';
import { runtimeError, usageError } from './errors.js';

export interface StatePaths {
  root: string;
  plans: string;
  runs: string;
  events: string;
  locks: string;
}

export function statePaths(root: string): StatePaths {
  return {
    root,
    plans: path.join(root, 'plans'),
    runs: path.join(root, 'runs'),
    events: path.join(root, 'events'),
    locks: path.join(root, 'locks'),
  };
}

export const planPath = (p: StatePaths, planId: string) => path.join(p.plans, `${planId}.json`);
export const runPath = (p: StatePaths, planId: string) => path.join(p.runs, `${planId}.json`);
export const eventPath = (p: StatePaths, planId: string) => path.join(p.events, `${planId}.ndjson`);

/** Write via a temp file in the same directory, fsync, rename, fsync the directory:
 *  a crash leaves the old file or the new one, never a torn one. */
export function writeFileAtomic(file: string, data: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(dir);
}

function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

export function readTextIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function removeIfExists(file: string): void {
  fs.rmSync(file, { force: true });
}

const PLAN_ID = /^[0-9a-f]{16}$/;

/** `--plan-id` must be a plan id, not a path: it becomes a file name. */
export function checkPlanId(planId: unknown): string {
  if (typeof planId !== 'string' || planId === '') throw usageError('missing_plan_id', 'missing --plan-id <id> (see `list`)');
  if (!PLAN_ID.test(planId)) throw usageError('invalid_plan_id', `--plan-id '${planId}' is not a plan id (16 hex characters)`);
  return planId;
}

export function readPlan(p: StatePaths, planId: string): PlanState {
  const text = readTextIfExists(planPath(p, checkPlanId(planId)));
  if (text === undefined) throw usageError('plan_not_found', `no plan ${planId} in ${p.plans}`);
  try {
    return JSON.parse(text) as PlanState;
  } catch (err) {
    throw runtimeError('plan_corrupt', `plan file ${planPath(p, planId)} is not valid JSON: ${(err as Error).message}`);
  }
}

export function listPlanIds(p: StatePaths): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(p.plans);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.endsWith('.json') && PLAN_ID.test(n.slice(0, -5)))
    .map((n) => n.slice(0, -5))
    .sort();
}
