// `resume`: continue a run from its checkpoint; failed chunks are retried
// (not those that need an operator, unless --replay-failed).
import { defineCommand } from './command.js';
import { executeRun, executionFlags } from './run.js';

export const resumeCommand = defineCommand(
  'resume',
  'Continue a run from its checkpoint, retrying failed chunks',
  executionFlags,
  (cx) => executeRun(cx, 'resume'),
);
