#!/usr/bin/env node
// `chkit-backfill <command> [flags]`: behaves like `chkit plugin backfill <command>`.
import { runHost } from './host.js';

runHost(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly once stdout is flushed: an embedded engine may keep the loop alive.
    process.stdout.write('', () => process.exit(code));
  },
  (err) => {
    process.stderr.write(`chkit-backfill: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
