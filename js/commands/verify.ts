// `verify`: flags → request, result → lines (the comparison itself: sdk/verify.ts).
import { usageError } from '../core/errors.js';
import type { Verdict, VerifyResult } from '../sdk/verify.js';
import { defineCommand, planIdFlag } from './command.js';
import { wrap } from './output.js';

const VERDICT_TEXT: Record<Verdict, string> = { ok: 'ok', missing: 'missing', extra: 'extra', differs: 'differs', not_verifiable: 'not verifiable' };

function verifyLines(r: VerifyResult, program: string, verifySummaryText: (s: VerifyResult['summary']) => string): string[] {
  const s = r.summary;
  const head = `Verify ${r.planId} (${r.target}, ${r.strategy}): ${r.ok ? (s.notVerifiable ? 'no difference found' : 'ok') : 'differences found'}`;
  const text = [head, `  ${verifySummaryText(s)}`];
  for (const c of r.chunks) {
    const counts = c.expected !== undefined ? ` (${c.actual} of ${c.expected} ${c.unit})` : '';
    text.push(...wrap(`${c.from} → ${c.to} ${c.id}: ${VERDICT_TEXT[c.verdict]}${counts}${c.reason ? `: ${c.reason}` : ''}`, 100, `  #${String(c.index).padEnd(5)} `, '         '));
  }
  if (!r.ok) {
    text.push(
      ...wrap(
        `the chunks named do not hold what the backfill should have written: inspect those windows of ${r.target} before re-running anything (a replay adds rows again), then \`${program} verify --plan-id ${r.planId}\``,
        80,
        '  ',
        '    ',
      ),
    );
  }
  return text;
}

export const verifyCommand = defineCommand(
  'verify',
  'Check on the server that the target holds, chunk by chunk, what the backfill should have written',
  [
    planIdFlag,
    { name: '--chunks', type: 'boolean', description: 'List every chunk with its verdict' },
    { name: '--chunk', type: 'string[]', description: 'Verify only these chunks (numbers as status --chunks shows them, or ids)', placeholder: '<n|id>' },
    { name: '--sample', type: 'string', description: 'Verify k chunks spread over the window', placeholder: '<k>' },
  ],
  async (cx) => {
    const sample = cx.string('--sample');
    if (sample !== undefined && !/^\d+$/.test(sample)) throw usageError('invalid_flag', `--sample takes a number of chunks, not '${sample}'`);
    const { verifyBackfill, verifySummaryText } = await import('../sdk/verify.js');
    const result = await verifyBackfill(cx.session, {
      planId: cx.string('--plan-id') ?? '',
      chunks: (cx.ctx.flags['--chunk'] as string[] | undefined) ?? [],
      sample: sample === undefined ? undefined : Number(sample),
      listAll: cx.bool('--chunks'),
    });
    return { exitCode: result.ok ? 0 : 1, json: result, text: verifyLines(result, cx.session.programName, verifySummaryText) };
  },
);
