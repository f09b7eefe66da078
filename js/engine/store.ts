// The state directory: paths, atomic writes, plan files. All state is
// JSON/NDJSON on disk; a write is either complete or not there.
import fs from 'node:fs';
import path from 'node:path';
import { fsError, usageError, runtimeError } from '../core/errors.js';
import { readPlanFile, type Plan } from './plan_file.js';
import type { LogReader } from '../core/core.js';

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
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    // A full disk must not also keep the half-written temp file.
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // Nothing was created (a read-only directory).
    }
    throw fsError(err, file) ?? err;
  }
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

/**
 * Keep a state file under a new name instead of deleting it (`<file>.replaced-<stamp>`,
 * which no command reads as a plan, run or log). → the new name, or undefined when
 * there was no such file.
 */
export function keepAside(file: string, stamp: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  let to = `${file}.replaced-${stamp}`;
  for (let k = 2; fs.existsSync(to); k++) to = `${file}.replaced-${stamp}-${k}`;
  fs.renameSync(file, to);
  return to;
}

const PLAN_ID = /^[0-9a-f]{16}$/;

/** `--plan-id` must be a plan id, not a path: it becomes a file name. */
export function checkPlanId(planId: unknown): string {
  if (typeof planId !== 'string' || planId === '') throw usageError('missing_plan_id', 'missing --plan-id <id> (see `list`)');
  if (!PLAN_ID.test(planId)) throw usageError('invalid_plan_id', `--plan-id '${planId}' is not a plan id (16 hex characters)`);
  return planId;
}

export function readPlan(p: StatePaths, planId: string): Plan {
  const file = planPath(p, checkPlanId(planId));
  try {
    return readPlanFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw usageError('plan_not_found', `no plan ${planId} in ${p.plans}`);
    throw err;
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

/** The last `verify` of a plan (written atomically; no credentials). */
export const verifyPath = (p: StatePaths, planId: string) => path.join(p.runs, `${planId}.verify.json`);
export const cancelPath = (p: StatePaths, planId: string) => path.join(p.runs, `${planId}.cancel`);
export const lockPath = (p: StatePaths, planId: string) => path.join(p.locks, `${planId}.lock`);

/**
 * The event log as the core reads it while opening a run: from a byte offset,
 * in blocks of whole lines, so a long log is never held whole. The size is
 * fixed when the reader is made; a line a live run is appending past it, or
 * one torn by a crash, comes last and `atEnd`.
 */
export function eventLogReader(file: string): LogReader {
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return {
    size,
    read(from) {
      if (from >= size) return { text: '', atEnd: true };
      const fd = fs.openSync(file, 'r');
      try {
        for (let block = LOG_BLOCK; ; block *= 2) {
          const buf = Buffer.allocUnsafe(Math.min(block, size - from));
          let n = 0;
          while (n < buf.length) {
            const got = fs.readSync(fd, buf, n, buf.length - n, from + n);
            if (got === 0) throw runtimeError('event_log_short', `event log ${file} shrank while it was read`);
            n += got;
          }
          if (from + n >= size) return { text: buf.toString('utf8'), atEnd: true };
          // Whole lines only: the rest is read again with the next block.
          const nl = buf.lastIndexOf(0x0a);
          if (nl >= 0) return { text: buf.toString('utf8', 0, nl + 1), atEnd: false };
        }
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

const LOG_BLOCK = 4 << 20;

/**
 * Give the event log a new inode (copy, fsync, rename over it) before a new
 * writer reads it: a process that lost the plan's lock but still has the old
 * file open then appends to that old inode, never to the log. Whatever it
 * appended before is in the copy, which the new writer reads.
 */
export function detachEventLog(file: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.copyFileSync(file, tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const fd = fs.openSync(tmp, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

/**
 * The append-only event log of one plan. `append` writes through to the OS
 * at once (a killed process loses nothing written); `sync` makes it durable
 * and is called before any statement whose recovery depends on the log
 * (write-ahead), so one fsync covers all events since the last one.
 */
export class EventLog {
  private fd: number;
  private dirty = false;
  bytes: number;
  /** Bytes known durable. */
  private synced: number;

  /** Open for appending after the first `validBytes` bytes; a torn tail past them is cut off. */
  constructor(readonly file: string, validBytes: number) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // O_APPEND: whatever else may write to this file, no byte of a line is ever overwritten.
    this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o644);
    const size = fs.fstatSync(this.fd).size;
    if (size > validBytes) {
      fs.ftruncateSync(this.fd, validBytes);
      fs.fsyncSync(this.fd);
    } else if (size < validBytes) {
      fs.closeSync(this.fd);
      throw runtimeError('event_log_short', `event log ${file} is shorter (${size} B) than its state (${validBytes} B)`);
    }
    this.bytes = validBytes;
    // Lines an earlier writer left unsynced (it was killed) are made durable with the first
    // sync: this writer's decisions rest on them.
    this.synced = 0;
    this.dirty = validBytes > 0;
  }

  append(line: string): void {
    const buf = Buffer.from(line + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, null);
    this.bytes += buf.length;
    this.dirty = true;
  }

  /**
   * Throws unless the file holds exactly what this writer appended: a snapshot's
   * offset into the log is only right then.
   */
  assertSoleWriter(): void {
    const size = fs.fstatSync(this.fd).size;
    if (size !== this.bytes) {
      throw runtimeError('lock_lost', `event log ${this.file} holds ${size} B where this run wrote ${this.bytes} B: another process writes to it; stopped`);
    }
  }

  sync(): void {
    if (!this.dirty) return;
    fs.fdatasyncSync(this.fd);
    this.dirty = false;
    this.synced = this.bytes;
  }

  /**
   * Make the log durable up to `offset` (a byte length it had): no fsync when an earlier one
   * already covered it, so chunks in flight together share one (group commit).
   */
  syncTo(offset: number): void {
    if (this.synced >= offset) return;
    this.sync();
  }

  close(): void {
    this.sync();
    fs.closeSync(this.fd);
  }
}
