// Every failure an operation can end with, as one typed error with its code.
import { BackfillError, fsError, oneLine } from '../core/errors.js';
import { ClickHouseFailure, describeFailure } from '../server/clickhouse.js';
import { sessionOf, type BackfillConfig, type Session } from './session.js';

export function classify(err: unknown, stateRoot?: string): BackfillError {
  if (err instanceof BackfillError) return err;
  if (err instanceof ClickHouseFailure) return new BackfillError(1, 'clickhouse_error', describeFailure(err), err);
  // A write through a descriptor names no file: say at least which state directory.
  const io = fsError(err, (err as NodeJS.ErrnoException)?.path ? undefined : stateRoot);
  if (io) return io;
  return new BackfillError(1, 'internal', oneLine(String((err as Error)?.message ?? err)), err);
}

/** Run an operation in a session so that whatever it throws is a BackfillError (the SDK's contract). */
export async function operation<T>(c: BackfillConfig | Session, op: (s: Session) => Promise<T> | T): Promise<T> {
  let s: Session | undefined;
  try {
    s = sessionOf(c);
    return await op(s);
  } catch (err) {
    throw classify(err, s?.paths.root);
  }
}
