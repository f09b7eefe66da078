// Run locks: one file per plan in <stateDir>/locks, created with O_EXCL so
// two processes can never both hold it. The holder rewrites its heartbeat
// about once a second; a lock whose process is gone (same host) or whose
// heartbeat is stale is taken over, and the taker says so in the event log.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { usageError } from '../core/errors.js';
import { lockPath, readTextIfExists, writeFileAtomic, type StatePaths } from './store.js';

export interface LockInfo {
  planId: string;
  target: string;
  /** Where the run executes (environment origin), never credentials. */
  environment?: string;
  pid: number;
  host: string;
  startedAt: string;
  heartbeatAt: string;
  nonce: string;
}

/** A heartbeat older than this means the holder is gone (another host, or a hung process). */
export const STALE_AFTER_MS = 30_000;
export const HEARTBEAT_MS = 1_000;

export type Liveness = { live: true } | { live: false; reason: string };

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function liveness(info: LockInfo, now = Date.now()): Liveness {
  if (info.host === os.hostname() && !pidAlive(info.pid)) {
    return { live: false, reason: `process ${info.pid} on ${info.host} is gone` };
  }
  const age = now - Date.parse(info.heartbeatAt);
  if (!(age <= STALE_AFTER_MS)) return { live: false, reason: `heartbeat is ${Math.round(age / 1000)} s old` };
  return { live: true };
}

function readLock(file: string): LockInfo | undefined {
  const text = readTextIfExists(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as LockInfo;
  } catch {
    // A lock is written atomically, so unparsable means foreign or damaged: treat as stale.
    return { planId: '?', target: '?', pid: 0, host: '?', startedAt: '', heartbeatAt: '1970-01-01T00:00:00Z', nonce: '' };
  }
}

export function describeHolder(info: LockInfo): string {
  return `pid ${info.pid} on ${info.host} (started ${info.startedAt}, heartbeat ${info.heartbeatAt})`;
}

/** Every lock in the state directory that is still live. */
export function liveLocks(p: StatePaths): LockInfo[] {
  let names: string[];
  try {
    names = fs.readdirSync(p.locks);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.lock'))
    .map((n) => readLock(path.join(p.locks, n)))
    .filter((l): l is LockInfo => !!l && liveness(l).live);
}

/** The live holder of a plan's lock, if any. */
export function planHolder(p: StatePaths, planId: string): LockInfo | undefined {
  const info = readLock(lockPath(p, planId));
  return info && liveness(info).live ? info : undefined;
}

export class PlanLock {
  private released = false;
  constructor(readonly file: string, public info: LockInfo) {}

  heartbeat(): void {
    if (this.released) return;
    // Never overwrite a lock someone else took over (we were presumed dead).
    const cur = readLock(this.file);
    if (cur?.nonce !== this.info.nonce) throw usageError('lock_lost', `lost the lock ${this.file} to ${cur ? describeHolder(cur) : 'nobody'}`);
    this.info = { ...this.info, heartbeatAt: new Date().toISOString() };
    writeFileAtomic(this.file, JSON.stringify(this.info) + '\n');
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (readLock(this.file)?.nonce === this.info.nonce) fs.rmSync(this.file, { force: true });
  }
}

export interface Acquired {
  lock: PlanLock;
  /** The dead holder whose lock was taken over, and why. */
  takenOver?: { previous: LockInfo; reason: string };
}

function createExclusive(file: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeSync(fd, JSON.stringify(info) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Take the plan's lock or throw exit 2 naming the holder. A stale lock is
 * removed under a short-lived O_EXCL "takeover" guard, after re-reading it
 * (same nonce), so two takers cannot both succeed or remove a fresh lock.
 */
export function acquirePlanLock(p: StatePaths, planId: string, target: string, environment: string | undefined): Acquired {
  fs.mkdirSync(p.locks, { recursive: true });
  const file = lockPath(p, planId);
  const now = new Date().toISOString();
  const info: LockInfo = {
    planId,
    target,
    environment,
    pid: process.pid,
    host: os.hostname(),
    startedAt: now,
    heartbeatAt: now,
    nonce: crypto.randomBytes(8).toString('hex'),
  };
  let takenOver: Acquired['takenOver'];
  for (let tries = 0; tries < 10; tries++) {
    if (createExclusive(file, info)) return { lock: new PlanLock(file, info), takenOver };
    const cur = readLock(file);
    if (!cur) continue; // released in between: try again
    const l = liveness(cur);
    if (l.live) throw usageError('plan_locked', `plan ${planId} is being run by ${describeHolder(cur)}`);
    const guard = `${file}.takeover`;
    // A guard left by a taker that died mid-takeover (a kill can land anywhere).
    const g = readLock(guard);
    if (g && (!liveness(g).live || Date.now() - Date.parse(g.heartbeatAt) > 10_000)) fs.rmSync(guard, { force: true });
    if (!createExclusive(guard, info)) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (tries + 1));
      continue;
    }
    try {
      if (readLock(guard)?.nonce === info.nonce && readLock(file)?.nonce === cur.nonce) {
        fs.rmSync(file, { force: true });
        takenOver = { previous: cur, reason: l.reason };
      }
    } finally {
      fs.rmSync(guard, { force: true });
    }
  }
  throw usageError('plan_locked', `could not take the lock ${file} (contended); try again`);
}

/**
 * Overlap check after taking our own lock: another live run on the same
 * target. Both racers see each other, and exactly one (the later lock) yields.
 */
export function overlappingRun(p: StatePaths, mine: LockInfo): LockInfo | undefined {
  const key = (l: LockInfo) => `${l.startedAt}|${l.planId}|${l.pid}`;
  return liveLocks(p).find(
    (l) => l.nonce !== mine.nonce && l.planId !== mine.planId && l.target === mine.target && key(l) < key(mine),
  );
}

/** A live run of another plan on the same embedded engine (chdb: one process per data directory). */
export function embeddedEngineHolder(p: StatePaths, environment: string, planId: string): LockInfo | undefined {
  return liveLocks(p).find((l) => l.planId !== planId && l.environment === environment);
}

/** The plan's lock file as found, live or not (doctor reports stale ones). */
export function planLockState(p: StatePaths, planId: string): { info: LockInfo; liveness: Liveness } | undefined {
  const info = readLock(lockPath(p, planId));
  return info ? { info, liveness: liveness(info) } : undefined;
}
