// The two failure classes users see: bad input (exit 2, nothing written) and
// runtime failure (exit 1, with the cause). Also the one place that turns a
// file system error (errno) into a code and a one-line message.
import fs from 'node:fs';
import path from 'node:path';

export type ExitCode = 0 | 1 | 2;

export class BackfillError extends Error {
  constructor(
    readonly exitCode: 1 | 2,
    readonly code: string,
    message: string,
    /** The error behind it, for CHKIT_DEBUG=1. */
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'BackfillError';
  }
}

export function usageError(code: string, message: string, cause?: unknown): BackfillError {
  return new BackfillError(2, code, message, cause);
}

export function runtimeError(code: string, message: string, cause?: unknown): BackfillError {
  return new BackfillError(1, code, message, cause);
}

/** A user's module error (jiti, or their own throw) as one line, keeping a `file:line:col` it names. */
export function oneLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  const loc = lines.slice(1).find((l) => !l.startsWith('at ') && /:\d+:\d+\)?$/.test(l));
  return (lines[0] ?? '') + (loc ? ` (${loc})` : '');
}

const FS_CODES = new Set(['disk_full', 'state_read_only', 'permission_denied', 'io_error']);
const WRITES = new Set(['write', 'open', 'mkdir', 'rename', 'ftruncate', 'fsync', 'fdatasync', 'close', 'copyfile', 'utime']);

/**
 * A file system error as the user should read it: ENOSPC → disk_full, EROFS →
 * state_read_only, EACCES/EPERM → permission_denied, anything else with an
 * errno → io_error. `file`, when given, names what was being written (a write
 * through a descriptor has no path; a temp file is not what the user knows).
 * Not an errno error → undefined.
 */
export function fsError(err: unknown, file?: string): BackfillError | undefined {
  if (err instanceof BackfillError) return FS_CODES.has(err.code) ? err : undefined;
  const e = err as NodeJS.ErrnoException;
  if (!e || typeof e.code !== 'string' || typeof e.syscall !== 'string' || typeof e.errno !== 'number') return undefined;
  let code = e.code;
  const where = file ?? e.path;
  let dir = where ? (e.syscall === 'mkdir' ? where : path.dirname(where)) : undefined;
  // A recursive mkdir says ENOENT when it cannot create a missing parent: ask the nearest
  // directory that exists why (a read-only mount, no permission).
  if (code === 'ENOENT' && e.syscall === 'mkdir' && where) {
    dir = nearestExisting(where);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (probe) {
      code = (probe as NodeJS.ErrnoException).code ?? code;
    }
  } else if (code === 'EROFS' && dir) dir = nearestExisting(dir);
  const verb = WRITES.has(e.syscall) ? 'write' : e.syscall;
  const what = where ? `cannot ${verb} ${where}` : `${verb} failed`;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return runtimeError('disk_full', `${what}: no space left on device${code === 'EDQUOT' ? ' (disk quota exceeded)' : ''}`, err);
    case 'EROFS':
      return runtimeError('state_read_only', `${what}: ${dir ?? 'the file system'} is read-only`, err);
    case 'EACCES':
    case 'EPERM':
      return runtimeError('permission_denied', `${what}: permission denied`, err);
    default:
      return runtimeError('io_error', `${what}: ${oneLine(e.message)}`, err);
  }
}

function nearestExisting(p: string): string {
  let d = path.resolve(p);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** CHKIT_DEBUG=1: the stack of a failure (and of its causes) goes to stderr. */
export function debugStack(err: unknown): void {
  if (process.env.CHKIT_DEBUG !== '1') return;
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    process.stderr.write(`${depth ? 'caused by: ' : ''}${(e as Error)?.stack ?? String(e)}\n`);
  }
}
