// Text helpers the layers share.

/** At most `max` characters; server messages can run to kilobytes. The JSON keeps them whole. */
export function clip(text: string, max: number): string {
  return [...text].length <= max ? text : [...text].slice(0, max - 1).join('') + '…';
}
