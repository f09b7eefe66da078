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
  /** When present (mv_replay plans), every statement of the chunk in order; sqlTemplate/idempotencyToken are the first one's. */
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
  /** mv_replay: the views replayed, each with its source and the source's time column. */
  views?: PlanView[];
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

/** What the core decided before cutting chunks: strategy, views, time columns. */
export interface PlanPreview {
  strategy: 'table' | 'copy' | 'mv_replay';
  timeColumns: {
    table: string;
    column: string | null;
    origin: 'flag' | 'schema' | 'defaults' | 'detected' | null;
    candidates: { name: string; type: string; inOrderBy: boolean }[];
  }[];
  views: { name: string; source: string; queryFrom: 'server' | 'schema' }[];
  warnings: string[];
  dataRangeQueries: string[];
}

export interface PlanView {
  name: string;
  source: string;
  timeColumn: string;
  columns: string[];
  queryFrom: 'server' | 'schema';
}

export const checkPlanInput = (request: Record<string, unknown>): void => {
  callCore('checkPlanInput', request);
};
export const planPreview = (request: Record<string, unknown>): PlanPreview => callCore('planPreview', request);
export const viewSource = (view: string, query: string, defaultDb: string): TableRef =>
  callCore('viewSource', view, query, defaultDb);
