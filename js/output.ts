// Small helpers for human output.
import type { Cx } from './command.js';

/** How the user invoked us, for "Next:" hints: the standalone bin or chkit. */
export function cliName(cx: Cx): string {
  return (cx.ctx as { hostName?: string }).hostName ?? 'chkit plugin backfill';
}
