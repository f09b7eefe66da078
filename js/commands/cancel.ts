// `cancel`: stop the run of a plan (sdk/cancel.ts), for humans.
import { defineCommand, planIdFlag } from './command.js';
import { summaryLines } from './present.js';

export const cancelCommand = defineCommand('cancel', 'Stop the run of a plan (from another process)', [planIdFlag], async (cx) => {
  const { cancelBackfill } = await import('../sdk/cancel.js');
  const r = await cancelBackfill(cx.session, { planId: cx.string('--plan-id') ?? '' });
  const head =
    r.outcome === 'stopped'
      ? `Cancelled ${r.planId} (stopped ${r.stoppedDescription})`
      : r.outcome === 'noop'
        ? `Plan ${r.planId} is ${r.status}; nothing to cancel`
        : `Cancelled ${r.planId} (no process was running it)`;
  return { json: r, text: [head, ...summaryLines(r)] };
});
