// segment-anything's PositionEmbeddingRandom (modeling/prompt_encoder.py): a random Fourier
// encoding of normalised grid coordinates, sin and cos of 2π (2p - 1) @ G for a fixed gaussian
// matrix G (2, F). G is a buffer (state-dict key positional_encoding_gaussian_matrix), not trained.
//
// The encoding is a constant of G and the grid size, so it is computed on the host (WGSL-free: the
// op set has no sin/cos) and uploaded once per size. A host copy of G is therefore kept in step
// with the buffer: loadStateDict on this module, or on a head that holds it, refreshes it.
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { SeededRandom } from '../../nn/init.js';
import { Module, type HostTensor } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';

export const GAUSSIAN_MATRIX_KEY = 'positional_encoding_gaussian_matrix';

export class PositionEmbeddingRandom extends Module {
  readonly gaussianMatrix: Tensor;
  private hostMatrix: Float32Array;
  /** Uploaded encodings by "layout:h:w". */
  private readonly cache = new Map<string, Tensor>();

  constructor(engine: Engine, readonly numPosFeats = 64, scale = 1, seed = 0) {
    super(engine);
    const s = scale > 0 ? scale : 1; // as the reference: None or <= 0 means 1
    const g = new SeededRandom(seed).normal(2 * numPosFeats).map((v) => v * s);
    this.hostMatrix = g;
    this.gaussianMatrix = this.buffer(GAUSSIAN_MATRIX_KEY, engine.tensor(g, [2, numPosFeats]));
  }

  /** Replaces G (device buffer and host copy) and drops the cached encodings. */
  setGaussianMatrix(data: Float32Array): void {
    if (data.length !== 2 * this.numPosFeats) throw new ShapeError(`PositionEmbeddingRandom: gaussian matrix needs ${2 * this.numPosFeats} values, got ${data.length}`);
    this.hostMatrix = Float32Array.from(data);
    this.engine.writeTensor(this.gaussianMatrix, this.hostMatrix);
    this.clearCache();
  }

  override loadStateDict(entries: Map<string, HostTensor> | Record<string, HostTensor>, options: { strict?: boolean } = {}): void {
    super.loadStateDict(entries, options);
    this.syncHostMatrix(entries, '');
  }

  /** After a parent loaded a state dict: takes G from the entries under `prefix`, if they hold it. */
  syncHostMatrix(entries: Map<string, HostTensor> | Record<string, HostTensor>, prefix: string): void {
    const key = prefix + GAUSSIAN_MATRIX_KEY;
    const given = entries instanceof Map ? entries.get(key) : entries[key];
    if (given) this.setGaussianMatrix(given.data);
  }

  /**
   * The encoding of an h x w grid on the host, channels first (2F, h, w) as the reference's
   * forward returns it, or token-major (h * w, 2F) as the transformer consumes it. Each step is
   * rounded to float32 the way torch computes it, so the values match to sin/cos rounding.
   */
  encode(h: number, w: number, layout: 'chw' | 'tokens' = 'chw'): Float32Array {
    const F = this.numPosFeats, g = this.hostMatrix, f = Math.fround;
    const twoPi = f(2 * Math.PI);
    const out = new Float32Array(2 * F * h * w);
    for (let y = 0; y < h; y++) {
      // grid.cumsum - 0.5 = index + 0.5, divided by the size, then 2p - 1
      const cy = f(f(2 * f((y + 0.5) / h)) - 1);
      for (let x = 0; x < w; x++) {
        const cx = f(f(2 * f((x + 0.5) / w)) - 1);
        const token = y * w + x;
        for (let k = 0; k < F; k++) {
          const arg = f(twoPi * f(f(cx * g[k]) + f(cy * g[F + k]))); // stack([x, y]) @ G
          const s = Math.sin(arg), c = Math.cos(arg);
          if (layout === 'tokens') {
            out[token * 2 * F + k] = s;
            out[token * 2 * F + F + k] = c;
          } else {
            out[k * h * w + token] = s;
            out[(F + k) * h * w + token] = c;
          }
        }
      }
    }
    return out;
  }

  /** (2F, h, w) on the device, as PositionEmbeddingRandom.forward((h, w)); cached, owned by this module. */
  forward(h: number, w: number): Tensor {
    return this.cached('chw', h, w, [2 * this.numPosFeats, h, w]);
  }

  /** (h * w, 2F): the same encoding flattened and permuted to token-major, as TwoWayTransformer uses it. */
  tokens(h: number, w: number): Tensor {
    return this.cached('tokens', h, w, [h * w, 2 * this.numPosFeats]);
  }

  private cached(layout: 'chw' | 'tokens', h: number, w: number, shape: number[]): Tensor {
    const key = `${layout}:${h}:${w}`;
    let t = this.cache.get(key);
    if (!t) {
      t = this.engine.keep(this.engine.tensor(this.encode(h, w, layout), shape));
      this.cache.set(key, t);
    }
    return t;
  }

  private clearCache(): void {
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
  }

  override dispose(): void {
    this.clearCache();
    super.dispose();
  }
}
