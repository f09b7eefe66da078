// The chkit plugin object and the `backfill()` registration factory. Each command loads its
// implementation (sdk/*) when it runs, so a command loads only the modules it uses.
import type { PluginCommand } from './command.js';
import { planCommand } from './plan.js';
import { runCommand } from './run.js';
import { resumeCommand } from './resume.js';
import { statusCommand } from './status.js';
import { cancelCommand } from './cancel.js';
import { checkCommand, checkHooks } from './check.js';
import { doctorCommand } from './doctor.js';
import { listCommand } from './list.js';
import { verifyCommand } from './verify.js';

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
