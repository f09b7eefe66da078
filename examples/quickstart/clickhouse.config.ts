// Quickstart project for @chkit/plugin-backfill on the embedded engine.
// Point `clickhouse.url` at a server (http://localhost:8123) to use a real cluster.
import { defineConfig } from '@chkit/core';
import { backfill } from '@chkit/plugin-backfill';

export default defineConfig({
  schema: ['./schema.ts'],
  outDir: './chkit',
  clickhouse: { url: 'chdb:./.chkit-data', database: 'app' },
  plugins: [
    backfill({
      defaults: { chunkHours: 24, timeColumn: 'event_time', maxParallelChunks: 2 },
    }),
  ],
});
