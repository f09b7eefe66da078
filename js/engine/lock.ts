// Run locks: one file per plan in <stateDir>/locks, linked into place whole
// (a link fails where the name exists, as O_EXCL does) so two processes can
// never both hold it, and no reader finds it empty. The holder never rewrites it: its
// heartbeat is the file's mtime, touched through the holder's own descriptor
// about once a second, so a holder that lost the file (taken over, removed)
// touches only its old inode. Who may take a lock over is decided in the core
// (src/fence.rs): on this host only a process that is gone (or a reused pid),
// on another host a stale heartbeat; the taker says so in the event log.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { callCore } from '../core/core.js';
import { runtimeError, usageError } from '../core/errors.js';
import { lockPath, readTextIfExists, type StatePaths } from './store.js';

export interface LockInfo {
  planId: string;
  target: string;
  /** Where the run executes (environment origin), never credentials. */
  environment?: string;
  pid: number;
  /** The process's start time (/proc/<pid>/stat field 22, Linux), so that a reused pid is not taken for it. */
  pidStart?: string;
  host: string;
  startedAt: string;
  /** As read: the lock file's mtime. */
  heartbeatAt: string;
  nonce: string;
  /** As read: the file whose content is not a lock (foreign, or an earlier version's being written); judged by its age alone. */
  unreadableFile?: string;
}

/** A heartbeat older than this means the holder is gone (another host, or a hung process). */
export const STALE_AFTER_MS = 30_000;
export const HEARTBEAT_MS = 1_000;

export type Liveness =
  | {
      live: true;
      /** This host: its process is alive (else: another host with a fresh heartbeat). */
      processSeen: boolean;
      stopped: boolean;
      /** The heartbeat is older than STALE_AFTER_MS (a stopped or hung process). */
      quiet: boolean;
      heartbeatAgeMs: number | null;
      /** What to do about a quiet holder; safe to follow. */
      advice: string | null;
    }
  | { live: false; reason: string };

/** State (field 3) and start time (field 22) of a process, from /proc; undefined where there is none. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 is the command in parentheses and may hold spaces: count from its end.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return rest.length > 19 ? { state: rest[0], start: rest[19] } : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Verdict =
  | { state: 'alive'; processSeen: boolean; stopped: boolean; quiet: boolean; heartbeatAgeMs: number | null; advice: string | null }
  | { state: 'gone'; reason: string };

export function liveness(info: LockInfo, now = Date.now()): Liveness {
  const sameHost = info.host === os.hostname();
  let process: { alive: boolean; sameStart: boolean | null; stopped: boolean } | undefined;
  if (sameHost) {
    const alive = pidAlive(info.pid);
    const st = alive ? procStat(info.pid) : undefined;
    process = { alive, sameStart: st && info.pidStart ? st.start === info.pidStart : null, stopped: !!st && /^[Tt]$/.test(st.state) };
  }
  const age = Math.round(now - Date.parse(info.heartbeatAt));
  const v = callCore<Verdict>('judgeLockHolder', {
    pid: info.pid,
    host: info.host,
    sameHost,
    process,
    heartbeatAgeMs: Number.isFinite(age) ? age : null,
    staleAfterMs: STALE_AFTER_MS,
  });
  if (v.state === 'gone') return { live: false, reason: v.reason };
  const { state: _, ...rest } = v;
  return { live: true, ...rest };
}

function readLock(file: string): LockInfo | undefined {
  let text: string | undefined;
  let mtime: number;
  try {
    text = readTextIfExists(file);
    if (text === undefined) return undefined;
    mtime = fs.statSync(file).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const heartbeatAt = new Date(mtime).toISOString();
  try {
    return { ...(JSON.parse(text) as LockInfo), heartbeatAt };
  } catch {
    // Foreign, or being written by an earlier version (O_EXCL, then the content): judged by its age alone.
    return { planId: '?', target: '?', pid: 0, host: '?', startedAt: '', heartbeatAt, nonce: '', unreadableFile: file };
  }
}

export function describeHolder(info: LockInfo): string {
  if (info.unreadableFile) {
    return `a process whose lock file ${info.unreadableFile} cannot be read yet (being written, or not written by this plugin), heartbeat ${info.heartbeatAt}`;
  }
  return `pid ${info.pid} on ${info.host} (started ${info.startedAt}, heartbeat ${info.heartbeatAt})`;
}

/** describeHolder, and for a live holder that has gone quiet, what it may be and what to do. */
export function describeLiveHolder(info: LockInfo, l: Liveness): string {
  if (!l.live || (!l.quiet && !l.stopped)) return describeHolder(info);
  const age = l.heartbeatAgeMs === null ? 'no heartbeat' : `heartbeat ${Math.round(l.heartbeatAgeMs / 1000)} s old`;
  return `${describeHolder(info)}, ${l.processSeen ? 'alive, ' : ''}${age}${l.advice ? `: ${l.advice}` : ''}`;
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
  /** The bytes our lock file holds, as created: what the path must still read back. */
  private readonly mine: Buffer;
  private readonly readBack: Buffer;
  constructor(readonly file: string, public info: LockInfo, private readonly fd: number) {
    this.mine = Buffer.from(lockText(info));
    this.readBack = Buffer.alloc(this.mine.length + 1);
  }

  /** Throws (exit 1) unless the lock file is still ours: checked before every statement, log line and snapshot. */
  verify(): void {
    // Read through the path, not a stat: opening it is what makes a shared filesystem (NFS)
    // look the name up again, where a stat may answer from its cache. Our own bytes, compared
    // as they are, are the common case several times a chunk; anything else is parsed.
    if (this.readsBackMine()) return;
    const cur = readLock(this.file);
    if (cur?.nonce === this.info.nonce) return;
    throw runtimeError(
      'lock_lost',
      `lost the lock ${this.file}: ` +
        (cur ? `it was taken over by ${describeHolder(cur)}, which continues the plan` : 'the lock file was removed; `resume` continues the plan') +
        '; this run stopped before its next statement and wrote nothing more',
    );
  }

  private readsBackMine(): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return false;
    }
    try {
      const n = fs.readSync(fd, this.readBack, 0, this.readBack.length, 0);
      return n === this.mine.length && this.readBack.subarray(0, n).equals(this.mine);
    } finally {
      fs.closeSync(fd);
    }
  }

  heartbeat(): void {
    if (this.released) return;
    this.verify();
    // Through our own descriptor: a lock file that replaced ours is never touched.
    const now = new Date();
    fs.futimesSync(this.fd, now, now);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    fs.closeSync(this.fd);
    if (readLock(this.file)?.nonce === this.info.nonce) fs.rmSync(this.file, { force: true });
  }
}

/** A lock file's content. */
const lockText = (info: LockInfo): string => JSON.stringify(info) + '\n';

export interface Acquired {
  lock: PlanLock;
  /** The dead holder whose lock was taken over, and why. */
  takenOver?: { previous: LockInfo; reason: string };
}

/**
 * → the open descriptor of the new file, or undefined when it exists. Written whole under a
 * name of its own, then linked into place (fails if the name exists, as O_EXCL): a reader never
 * finds the lock empty, which would name no holder.
 */
function createExclusive(file: string, info: LockInfo): number | undefined {
  const draft = `${file}.${info.nonce}.draft`;
  const fd = fs.openSync(draft, 'wx', 0o644);
  try {
    fs.writeSync(fd, lockText(info));
    fs.fsyncSync(fd);
    fs.linkSync(draft, file);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  } finally {
    fs.rmSync(draft, { force: true });
  }
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
    pidStart: procStat(process.pid)?.start,
    host: os.hostname(),
    startedAt: now,
    heartbeatAt: now,
    nonce: crypto.randomBytes(8).toString('hex'),
  };
  let takenOver: Acquired['takenOver'];
  for (let tries = 0; tries < 10; tries++) {
    const fd = createExclusive(file, info);
    if (fd !== undefined) return { lock: new PlanLock(file, info, fd), takenOver };
    const cur = readLock(file);
    if (!cur) continue; // released in between: try again
    const l = liveness(cur);
    if (l.live) throw usageError('plan_locked', `plan ${planId} is being run by ${describeLiveHolder(cur, l)}`);
    const guard = `${file}.takeover`;
    // A guard left by a taker that died mid-takeover (a kill can land anywhere).
    const g = readLock(guard);
    if (g && (!liveness(g).live || Date.now() - Date.parse(g.heartbeatAt) > 10_000)) fs.rmSync(guard, { force: true });
    const guardFd = createExclusive(guard, info);
    if (guardFd === undefined) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (tries + 1));
      continue;
    }
    fs.closeSync(guardFd);
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
 * target of the same environment (a lock that does not say where it runs may
 * be anywhere). Both racers see each other, and exactly one (the later lock) yields.
 */
export function overlappingRun(p: StatePaths, mine: LockInfo): LockInfo | undefined {
  const key = (l: LockInfo) => `${l.startedAt}|${l.planId}|${l.pid}`;
  const sameEnvironment = (l: LockInfo) => l.environment === undefined || mine.environment === undefined || l.environment === mine.environment;
  return liveLocks(p).find(
    (l) => l.nonce !== mine.nonce && l.planId !== mine.planId && l.target === mine.target && sameEnvironment(l) && key(l) < key(mine),
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
