// The two failure classes users see: bad input (exit 2, nothing written) and
// runtime failure (exit 1, with the cause).

export type ExitCode = 0 | 1 | 2;

export class BackfillError extends Error {
  constructor(
    readonly exitCode: 1 | 2,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BackfillError';
  }
}

export function usageError(code: string, message: string): BackfillError {
  return new BackfillError(2, code, message);
}

export function runtimeError(code: string, message: string): BackfillError {
  return new BackfillError(1, code, message);
}
