// The one pseudo-random step used everywhere weights, test inputs and augmentations are drawn:
// mulberry32, small and identical in Node and browsers (Math.random is never used for data).

/** A generator of uniform numbers in [0, 1) from a 32-bit state; equal seeds give equal sequences. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
