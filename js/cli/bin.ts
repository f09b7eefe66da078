#!/usr/bin/env node
// `chkit-backfill <command> [flags]`: behaves like `chkit plugin backfill <command>`.
import { enableCodeCache } from '../server/code_cache.js';

// Before the modules it caches load: the host is imported after it.
enableCodeCache();
const { runHost } = await import('./host.js');

runHost(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly once stdout is flushed: an embedded engine may keep the loop alive.
    process.stdout.write('', () => process.exit(code));
  },
  (err) => {
    // runHost answers every failure itself; this is the last resort, still one line.
    process.stderr.write(`chkit-backfill: ${process.env.CHKIT_DEBUG === '1' ? err?.stack ?? err : err?.message ?? err}\n`);
    process.exit(1);
  },
);
