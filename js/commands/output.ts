// Small helpers for human output.
import type { Cx } from './command.js';

/** How the user invoked us, for "Next:" hints: the standalone bin or chkit. */
export function cliName(cx: Cx): string {
  return cx.session.programName;
}

/** Word-wrap `text` to `width` columns; lines after the first get `indent`. */
export function wrap(text: string, width = 80, first = '', indent = first.replace(/\S/g, ' ')): string[] {
  const lines: string[] = [];
  let line = first;
  let fresh = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!fresh && [...line].length + 1 + [...word].length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line += (fresh ? '' : ' ') + word;
    }
    fresh = false;
  }
  lines.push(line);
  return lines;
}
