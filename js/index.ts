// Public entry of @chkit/plugin-backfill.
import { createBackfillPlugin, type BackfillPlugin } from './commands/plugin.js';

// `type`, not `interface`: chkit's defineConfig takes plugin options as Record<string, unknown>,
// which an interface (no implicit index signature) is not assignable to (TS2769).
export type BackfillOptions = {
  /** State directory; default `<metaDir>/backfill`. Relative to the config file. */
  stateDir?: string;
  defaults?: {
    /** Chunk length in hours (the default sizing). At most one of chunkHours, chunkRows, chunkBytes. */
    chunkHours?: number;
    /** Chunks of about this many rows, cut from the data's distribution. */
    chunkRows?: number;
    /** Chunks of about this many uncompressed bytes: a number, or a size such as '512MB' or '2GiB'. */
    chunkBytes?: number | string;
    maxParallelChunks?: number;
    maxRetriesPerChunk?: number;
    retryDelayMs?: number;
    requireIdempotencyToken?: boolean;
    timeColumn?: string;
  };
  policy?: {
    requireDryRunBeforeRun?: boolean;
    requireExplicitWindow?: boolean;
    blockOverlappingRuns?: boolean;
    failCheckOnRequiredPendingBackfill?: boolean;
  };
  limits?: {
    maxWindowHours?: number;
    minChunkMinutes?: number;
    /** Longest chunk a plan sized by rows or bytes makes; default 168 (a week). */
    maxChunkHours?: number;
  };
};

/** Per-table options: `plugins: { backfill: {...} }` on a chkit table definition. */
export type BackfillTableOptions = {
  /** Column the window is cut on for this table; beats defaults.timeColumn, --time-column beats it. */
  timeColumn?: string;
};

// Importing the package types `plugins.backfill` on chkit tables (declaration merging).
declare module '@chkit/core' {
  interface TablePlugins {
    backfill?: BackfillTableOptions;
  }
}

export interface BackfillRegistration {
  plugin: BackfillPlugin;
  name: 'backfill';
  enabled: true;
  options: BackfillOptions;
}

/** `plugins: [backfill({...})]` in clickhouse.config.ts. Options are validated when a command runs. */
export function backfill(options: BackfillOptions = {}): BackfillRegistration {
  return { plugin: createBackfillPlugin(), name: 'backfill', enabled: true, options };
}

export default createBackfillPlugin();
export { createBackfillPlugin };
export type { BackfillPlugin };
