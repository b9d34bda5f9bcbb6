// Each benchmark owns one block of README.md between its two markers and rewrites only that block.

export const README = 'README.md';

export function readmeMarkers(name) {
  return { start: `<!-- bench:${name}:start -->`, end: `<!-- bench:${name}:end -->` };
}

/**
 * Replaces the text from the start marker to the end marker (inclusive) with `block`, which carries
 * the markers itself. Returns 'updated', or 'missing' (nothing written) when the markers are absent,
 * or 'appended' when they are absent and `appendIfMissing` is set.
 */
export async function replaceReadmeBlock(name, block, { appendIfMissing = false } = {}) {
  const { existsSync, readFileSync, writeFileSync } = await import('node:fs');
  if (!existsSync(README)) return 'missing';
  const { start, end } = readmeMarkers(name);
  const text = readFileSync(README, 'utf8');
  const a = text.indexOf(start), b = text.indexOf(end);
  if (a >= 0 && b > a) {
    writeFileSync(README, text.slice(0, a) + block + text.slice(b + end.length));
    return 'updated';
  }
  if (!appendIfMissing) return 'missing';
  writeFileSync(README, `${text.trimEnd()}\n\n${block}\n`);
  return 'appended';
}
