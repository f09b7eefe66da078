// Questions to a person at a terminal. Only used when stdin and stdout are
// TTYs and --json is off; everything else decides without asking.
import readline from 'node:readline/promises';

export function canPrompt(jsonMode: boolean): boolean {
  return !jsonMode && Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

export async function ask(question: string): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/** `[Y/n]`: empty or y/yes is yes. */
export async function confirm(question: string): Promise<boolean> {
  return /^(y|yes)?$/i.test(await ask(`${question} [Y/n] `));
}

/** A numbered choice; returns the index, or undefined for no valid answer. */
export async function choose(question: string, options: string[]): Promise<number | undefined> {
  const lines = options.map((o, i) => `  ${i + 1}) ${o}`).join('\n');
  const n = Number(await ask(`${question}\n${lines}\nChoose 1-${options.length}: `));
  return Number.isInteger(n) && n >= 1 && n <= options.length ? n - 1 : undefined;
}
