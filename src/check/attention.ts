import { flashAttentionReference, packedFlashAttentionReference } from '../kernels/flash-attention.js';
import { noGrad } from '../graph/autograd.js';
import { relPosAttention, relPosAttentionPacked } from '../ops/attention.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// f32 dot products over d terms and an online softmax: error grows like sqrt(d) ulps of the output.
const CASES: [number, number, number, number, number][] = [[2, 70, 5, 7, 6], [1, 49, 7, 7, 16], [1, 64, 8, 8, 64]];

const separateChecks: KernelCheck[] = CASES.map(([batch, n, kh, kw, d]) => ({
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

// [images, heads, qh, qw, d]: SAM's windows (14x14) and a non-square grid with a partial row tile and odd d.
const PACKED_CASES: [number, number, number, number, number][] = [[2, 2, 14, 14, 16], [1, 3, 7, 10, 6]];

const packedChecks: KernelCheck[] = PACKED_CASES.map(([batch, heads, qh, qw, d]) => ({
  kernel: 'flash-attention (packed qkv, rel-pos in kernel)',
  case: `B ${batch}, heads ${heads}, grid ${qh}x${qw}, d ${d}`,
  tolerance: `atol 2e-6·sqrt(d) (${(2e-6 * Math.sqrt(d)).toExponential(1)}) + rtol 2e-6·sqrt(d)`,
  async run(engine) {
    const n = qh * qw, scale = d ** -0.5;
    const qkv = seededUniform(batch * n * 3 * heads * d, 6, -1.5, 1.5), rh = seededUniform(qh * qh * d, 7, -1, 1), rw = seededUniform(qw * qw * d, 8, -1, 1);
    const got = await noGrad(() => relPosAttentionPacked(
      engine.tensor(qkv, [batch, qh, qw, 3 * heads * d]), engine.tensor(rh, [qh, qh, d]), engine.tensor(rw, [qw, qw, d]), heads, qh, qw, scale,
    )).readFloat();
    const tol = 2e-6 * Math.sqrt(d);
    return compareArrays(got, packedFlashAttentionReference({ batch, heads, qh, qw, d, scale }, qkv, rh, rw), tol, tol);
  },
}));

export const attentionChecks: KernelCheck[] = [...separateChecks, ...packedChecks];
