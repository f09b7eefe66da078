// Public entry of @chkit/plugin-backfill.
import { createBackfillPlugin, type BackfillPlugin } from './plugin.js';

export interface BackfillOptions {
  /** State directory; default `<metaDir>/backfill`. Relative to the config file. */
  stateDir?: string;
  defaults?: {
    chunkHours?: number;
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
  };
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
