// The chkit plugin object and the `backfill()` registration factory.
import type { PluginCommand } from './commands/command.js';
import { planCommand } from './commands/plan.js';
import { runCommand } from './commands/run.js';
import { resumeCommand } from './commands/resume.js';
import { statusCommand } from './commands/status.js';
import { cancelCommand } from './commands/cancel.js';
import { checkCommand, checkHooks } from './commands/check.js';
import { doctorCommand } from './commands/doctor.js';
import { listCommand } from './commands/list.js';
import { verifyCommand } from './commands/verify.js';

export const PLUGIN_NAME = 'backfill';
export const PLUGIN_VERSION = '0.1.0';

export interface BackfillPlugin {
  manifest: { name: string; apiVersion: 1; version?: string };
  commands: PluginCommand[];
  hooks?: Record<string, (...args: never[]) => unknown>;
}

export const commands: PluginCommand[] = [planCommand, runCommand, resumeCommand, statusCommand, cancelCommand, doctorCommand, listCommand, verifyCommand, checkCommand];

export function createBackfillPlugin(): BackfillPlugin {
  return {
    manifest: { name: PLUGIN_NAME, apiVersion: 1, version: PLUGIN_VERSION },
    commands,
    hooks: checkHooks,
  };
}
