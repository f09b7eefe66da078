// Typed access to the Rust core (pkg/, built by scripts/setup.sh). Every core
// call returns a JSON envelope; errors become BackfillError with the core's
// kind mapped to an exit code.
import { createRequire } from 'node:module';
import { BackfillError } from './errors.js';

type Envelope<T> = { ok: true; value: T } | { ok: false; error: { kind: 'usage' | 'runtime'; code: string; message: string } };

const require = createRequire(import.meta.url);
// Raw bindings: each takes and returns JSON text.
export const wasm: Record<string, (...args: string[]) => string> = require('../pkg/chkit_backfill_core.js');

export function callCore<T>(fn: string, ...args: unknown[]): T {
  const f = wasm[fn];
  if (typeof f !== 'function') throw new Error(`core has no export ${fn}`);
  const out = JSON.parse(f(...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a ?? null))))) as Envelope<T>;
  if (out.ok) return out.value;
  throw new BackfillError(out.error.kind === 'usage' ? 2 : 1, out.error.code, out.error.message);
}

export interface ResolvedOptions {
  stateDir?: string;
  defaults: {
    chunkHours: number;
    maxParallelChunks: number;
    maxRetriesPerChunk: number;
    retryDelayMs: number;
    requireIdempotencyToken: boolean;
    timeColumn?: string;
  };
  policy: {
    requireDryRunBeforeRun: boolean;
    requireExplicitWindow: boolean;
    blockOverlappingRuns: boolean;
    failCheckOnRequiredPendingBackfill: boolean;
  };
  limits: { maxWindowHours: number; minChunkMinutes: number };
}

/** One INSERT of a chunk. A chunk has several when several views replay into one target. */
export interface PlanStatement {
  /** What this statement replays (a view name), for messages and events. */
  label: string;
  idempotencyToken: string | null;
  sql: string;
}

export interface PlanChunk {
  id: string;
  from: string;
  to: string;
  status: 'pending';
  attempts: number;
  idempotencyToken: string | null;
  sqlTemplate: string;
  /** Present only when the chunk has more than one statement; then it lists all of them. */
  statements?: PlanStatement[];
}

/** The statements a chunk executes, in order. */
export function chunkStatements(chunk: PlanChunk, target: string): PlanStatement[] {
  return chunk.statements ?? [{ label: target, idempotencyToken: chunk.idempotencyToken, sql: chunk.sqlTemplate }];
}

export interface PlanState {
  planId: string;
  target: string;
  createdAt: string;
  status: 'planned';
  strategy: string;
  source?: string;
  environment?: { fingerprint: string; url: string; database: string };
  from: string;
  to: string;
  chunkHours: number;
  timeColumn: string;
  columns?: string[];
  chunks: PlanChunk[];
  options: ResolvedOptions['defaults'];
  policy: ResolvedOptions['policy'];
  limits: ResolvedOptions['limits'];
  [extra: string]: unknown;
}

export const resolveOptions = (raw: unknown): ResolvedOptions => callCore('resolveOptions', raw);
export const planDifferences = (existingJson: string, fresh: PlanState): string[] =>
  callCore('planDifferences', existingJson, fresh);

export interface TableRef {
  database: string;
  table: string;
}
export const parseTable = (input: string, defaultDb: string, flag: string): TableRef =>
  callCore('parseTable', input, defaultDb, flag);
export const buildPlan = (request: Record<string, unknown>): PlanState => callCore('buildPlan', request);
