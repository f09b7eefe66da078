// The SDK from a script (run `npm run demo` first, then `node examples/sdk.mjs`):
// plan a backfill of one day of the quickstart project, run it with progress,
// and check the result — no CLI involved.
import { BackfillError, backfillStatus, listBackfills, loadBackfillConfig, planBackfill, runBackfill, verifyBackfill } from '@chkit/plugin-backfill/sdk';

const config = await loadBackfillConfig(new URL('./quickstart/clickhouse.config.ts', import.meta.url).pathname);
try {
  const plan = await planBackfill(config, { target: 'app.events', from: '2025-01-10', to: '2025-01-11', chunkHours: 6 });
  console.log(`plan ${plan.planId}: ${plan.chunkCount} chunks (${plan.existed ? 'existed' : 'new'})`);

  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort()); // Ctrl-C: finish the chunks in flight, then pause
  const run = await runBackfill(config, { planId: plan.planId }, {
    signal: stop.signal,
    onProgress: (p) => process.stdout.write(`\r${p.done}/${p.total} chunks, ${p.rowsWritten} rows`),
  });
  console.log(`\n${run.status}: ${run.rowsWritten} rows written`);

  const verified = await verifyBackfill(config, { planId: plan.planId });
  console.log(`verify: ${verified.ok ? 'ok' : 'differences'} (${verified.summary.ok} of ${verified.summary.chunks} chunks ok)`);
  console.log((await backfillStatus(config, { planId: plan.planId })).chunkCounts);
  for (const p of (await listBackfills(config)).plans) console.log(`${p.planId} ${p.status} ${p.target}`);
} catch (err) {
  // Every failure is a BackfillError with the CLI's code and exit code.
  if (err instanceof BackfillError) {
    console.error(`${err.code}: ${err.message}`);
    process.exit(err.exitCode);
  }
  throw err;
}
