import { defineConfig } from '@chkit/core';
import { backfill } from '@chkit/plugin-backfill';

export default defineConfig({
  schema: ['./schema.ts'],
  outDir: './chkit',
  clickhouse: { url: 'chdb:./.chkit-data', database: 'app' },
  plugins: [
    backfill({
      defaults: { chunkHours: 6, timeColumn: 'event_time' },
    }),
  ],
});
