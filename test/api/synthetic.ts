// A small synthetic segmentation task for the API tests and examples: grey images with a bright
// disc (class 1) inside a dimmer ring (class 2) on a noisy background, at seeded positions.
import type { Image2D, LabelMap } from '../../src/api/types.js';

export function discImage(seed: number, size = 32): { image: Image2D; label: LabelMap } {
  const data = new Float32Array(size * size);
  const label = new Uint8Array(size * size);
  const cx = size * (0.35 + 0.3 * ((seed * 0.37) % 1)), cy = size * (0.35 + 0.3 * ((seed * 0.61) % 1));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const r = Math.hypot(x - cx, y - cy) / size;
      label[i] = r < 0.15 ? 1 : r < 0.28 ? 2 : 0;
      data[i] = (label[i] === 1 ? 220 : label[i] === 2 ? 130 : 40) + 15 * Math.sin(i * 0.9 + seed);
    }
  }
  return { image: { data, height: size, width: size }, label: { data: label, height: size, width: size } };
}

/** Dice of class c between two label maps (1 when both lack it). */
export function diceOf(a: Uint8Array, b: Uint8Array, c: number): number {
  let inter = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] === c, y = b[i] === c;
    if (x) na++;
    if (y) nb++;
    if (x && y) inter++;
  }
  return na + nb === 0 ? 1 : (2 * inter) / (na + nb);
}
