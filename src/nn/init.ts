// Seeded parameter initialisation (PyTorch's defaults, drawn from our own generator).
import { mulberry32 } from '../util/random.js';

/** A small deterministic generator (mulberry32) for weights: the same seed gives the same model. */
export class SeededRandom {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
  normal(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = 1 - this.next(), v = this.next();
      out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    return out;
  }
}

/** nn.Linear / nn.Conv2d default: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias. */
export function defaultUniform(rng: SeededRandom, n: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn));
  return rng.uniform(n, -bound, bound);
}
