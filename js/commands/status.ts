// `status`: the state of a plan and its run (sdk/status.ts), for humans.
import { chunkTableLines } from './chunk_table.js';
import { defineCommand, planIdFlag } from './command.js';
import { summaryLines } from './present.js';

export const statusCommand = defineCommand(
  'status',
  'Show the state of a plan and its run',
  [planIdFlag, { name: '--chunks', type: 'boolean', description: 'Add a table of chunks (failed first)' }],
  async (cx) => {
    const [{ backfillStatus }, { verificationLine }] = await Promise.all([import('../sdk/status.js'), import('../sdk/verify.js')]);
    const r = await backfillStatus(cx.session, { planId: cx.string('--plan-id') ?? '', chunks: cx.bool('--chunks') });
    return {
      json: r,
      text: [
        `Plan ${r.planId}: ${r.status}${r.interrupted ? ` (interrupted: ${r.interruptedReason}; resume continues it)` : ''}${r.runner ? `, held by ${r.runner.description}` : ''}`,
        ...summaryLines(r),
        ...(r.lastVerification ? [`  ${verificationLine(r.lastVerification)}`] : []),
        ...(r.chunks ? ['', ...chunkTableLines(r.chunks)] : []),
      ],
    };
  },
);
