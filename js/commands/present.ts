// Lines for humans shared by the commands that report a run.
import type { RunPayload } from '../sdk/payload.js';
import { clip } from '../core/text.js';
import { wrap } from './output.js';

export function summaryLines(p: RunPayload): string[] {
  const c = p.chunkCounts;
  const lines = [
    `  target    ${p.target} (strategy ${p.strategy}${p.source ? ` from ${p.source}` : ''})`,
    `  chunks    ${c.done} done, ${c.failed} failed, ${c.skipped} skipped, ${c.pending} pending, ${c.running} running${c.checking ? ` (${c.checking} inserted, being counted)` : ''} of ${c.total}`,
    `  rows      ${p.rowsWritten} written, ${p.attempts} attempts`,
  ];
  const e = p.lastError;
  if (e) {
    const code = e.code !== undefined ? ` (${e.code}${e.type ? ` ${e.type}` : ''})` : e.type ? ` (${e.type})` : '';
    lines.push(...wrap(clip(e.message.split('\n')[0], 300), 80, `  last error${code}: `, '    '));
  }
  if (p.chunksNeedingOperator) lines.push(`  ${p.chunksNeedingOperator} chunk(s) need an operator: see lastError`);
  if (p.unverifiedChunks) {
    lines.push(
      ...wrap(
        `${p.unverifiedChunks} chunk(s) re-sent after a crash wrote no rows, and no count can confirm them: \`verify\` compares the target with the view over every window (status --chunks marks them)`,
        80,
        '  ',
        '    ',
      ),
    );
  }
  return lines;
}
