import { flashAttentionReference } from '../kernels/flash-attention.js';
import { relPosAttention } from '../ops/attention.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// f32 dot products over d terms and an online softmax: error grows like sqrt(d) ulps of the output.
const CASES: [number, number, number, number, number][] = [[2, 70, 5, 7, 6], [1, 49, 7, 7, 16], [1, 64, 8, 8, 64]];

export const attentionChecks: KernelCheck[] = CASES.map(([batch, n, kh, kw, d]) => ({
  kernel: 'flash-attention (rel-pos)',
  case: `B ${batch}, N ${n}, keys ${kh}x${kw}, d ${d}`,
  tolerance: `atol 2e-6·sqrt(d) (${(2e-6 * Math.sqrt(d)).toExponential(1)}) + rtol 2e-6·sqrt(d)`,
  async run(engine) {
    const nk = kh * kw, scale = d ** -0.5;
    const q = seededUniform(batch * n * d, 1, -2, 2), k = seededUniform(batch * nk * d, 2, -2, 2), v = seededUniform(batch * nk * d, 3);
    const relH = seededUniform(batch * n * kh, 4, -3, 3), relW = seededUniform(batch * n * kw, 5, -3, 3);
    const got = await relPosAttention(
      engine.tensor(q, [batch, n, d]), engine.tensor(k, [batch, nk, d]), engine.tensor(v, [batch, nk, d]),
      engine.tensor(relH, [batch, n, kh]), engine.tensor(relW, [batch, n, kw]), scale,
    ).readFloat();
    const tol = 2e-6 * Math.sqrt(d);
    return compareArrays(got, flashAttentionReference({ batch, n, kh, kw, d, scale }, q, k, v, relH, relW), tol, tol);
  },
}));
