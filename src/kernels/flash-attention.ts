// Fused attention with SAM's decomposed relative-position bias, flash-style: for each query row,
// softmax(q·k * scale + relH[ky] + relW[kx]) v over the keys, with an online softmax (running max and
// sum, the accumulator rescaled once per key tile), so the (N, Nk) score matrix never exists.
//
// Layout (llvmpipe maps an invocation to a SIMD lane): one invocation per query row, 64 rows of one
// head per workgroup; the workgroup stages a tile of T keys and values in workgroup memory, every
// invocation reads them (the same address across lanes: a broadcast), q and the accumulator stay in
// registers as vec4s. Bias: key j = ky * kw + kx gets relH[b, i, ky] + relW[b, i, kx].
import { bindingDecls, dispatchLinear, f32Literal, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export interface FlashAttentionParams {
  /** Batch of heads (B * heads). */
  batch: number;
  /** Queries per head. */
  n: number;
  /** Key grid: keys = kh * kw. */
  kh: number;
  kw: number;
  /** Head dim. */
  d: number;
  scale: number;
}

const ROWS_PER_WORKGROUP = 64;
/** Workgroup memory for the K and V tiles (lavapipe allows 32 KiB). */
const TILE_BYTES = 28 * 1024;

/**
 * Keys per tile: at most 16, fewer if the K and V tiles would not fit in TILE_BYTES. Larger tiles
 * gain little and cost compile time: on lavapipe, d 80 compiled in 24 s with 44-key tiles, 8.6 s
 * with 16 (cold shader cache; 8 keys were no faster to compile).
 */
export function flashKeyTile(d: number): number {
  const d4 = Math.ceil(d / 4);
  return Math.max(1, Math.min(16, Math.floor(TILE_BYTES / (2 * d4 * 16))));
}

/** Bindings: Q (batch, n, d), K and V (batch, kh*kw, d), RH (batch, n, kh), RW (batch, n, kw), OUT (batch, n, d). */
export function flashAttentionKernel(p: FlashAttentionParams): KernelSpec {
  const { batch, n, kh, kw, d } = p;
  const nk = kh * kw, d4 = Math.ceil(d / 4), T = flashKeyTile(d), WG = ROWS_PER_WORKGROUP;
  const rowTiles = Math.ceil(n / WG);
  const workgroups = batch * rowTiles;
  // A vec4 from four scalars of a row at element offset `base`; components past d read as 0.
  const load4 = (arr: string, base: string, c4: string) => d % 4 === 0
    ? `vec4<f32>(${arr}[${base} + ${c4} * 4u], ${arr}[${base} + ${c4} * 4u + 1u], ${arr}[${base} + ${c4} * 4u + 2u], ${arr}[${base} + ${c4} * 4u + 3u])`
    : `vec4<f32>(${[0, 1, 2, 3].map((o) => `select(0.0, ${arr}[min(${base} + ${c4} * 4u + ${o}u, ${base} + D - 1u)], ${c4} * 4u + ${o}u < D)`).join(', ')})`;
  const decls = bindingDecls([
    { name: 'Q', kind: 'read', type: 'array<f32>' },
    { name: 'K', kind: 'read', type: 'array<f32>' },
    { name: 'V', kind: 'read', type: 'array<f32>' },
    { name: 'RH', kind: 'read', type: 'array<f32>' },
    { name: 'RW', kind: 'read', type: 'array<f32>' },
    { name: 'OUT', kind: 'read_write', type: 'array<f32>' },
  ]);
  const wgsl = /* wgsl */ `${decls}
${WGSL_LINEAR_WORKGROUP}
const N: u32 = ${n}u;
const NK: u32 = ${nk}u;
const KH: u32 = ${kh}u;
const KW: u32 = ${kw}u;
const D: u32 = ${d}u;
const D4: u32 = ${d4}u;
const T: u32 = ${T}u;
const WG: u32 = ${WG}u;
const ROW_TILES: u32 = ${rowTiles}u;
const WORKGROUPS: u32 = ${workgroups}u;
const SCALE: f32 = ${f32Literal(p.scale)};
const LOWEST: f32 = -3.0e38;

var<workgroup> kTile: array<vec4<f32>, ${T * d4}>;
var<workgroup> vTile: array<vec4<f32>, ${T * d4}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linearWorkgroup(wid, nwg);
  if (g >= WORKGROUPS) { return; }
  let b = g / ROW_TILES;
  let row = (g % ROW_TILES) * WG + lid;
  // Rows past N compute a copy of the last row (keeping every lane in the barriers) and write nothing.
  let r = min(row, N - 1u);
  let qBase = (b * N + r) * D;
  var q: array<vec4<f32>, D4>;
  var acc: array<vec4<f32>, D4>;
  for (var c = 0u; c < D4; c++) {
    q[c] = ${load4('Q', 'qBase', 'c')} * SCALE;
    acc[c] = vec4<f32>(0.0);
  }
  let rhBase = (b * N + r) * KH;
  let rwBase = (b * N + r) * KW;
  var m = LOWEST;
  var l = 0.0;
  var s: array<f32, T>;
  for (var j0 = 0u; j0 < NK; j0 += T) {
    for (var e = lid; e < T * D4; e += WG) {
      let j = j0 + e / D4;
      let c = e % D4;
      let kvBase = (b * NK + min(j, NK - 1u)) * D;
      kTile[e] = ${load4('K', 'kvBase', 'c')};
      vTile[e] = ${load4('V', 'kvBase', 'c')};
    }
    workgroupBarrier();
    var tileMax = LOWEST;
    for (var t = 0u; t < T; t++) {
      let j = j0 + t;
      var dot4 = vec4<f32>(0.0);
      for (var c = 0u; c < D4; c++) { dot4 += q[c] * kTile[t * D4 + c]; }
      let jj = min(j, NK - 1u);
      let score = dot(dot4, vec4<f32>(1.0)) + RH[rhBase + jj / KW] + RW[rwBase + jj % KW];
      s[t] = select(score, LOWEST, j >= NK);
      tileMax = max(tileMax, s[t]);
    }
    let mNew = max(m, tileMax);
    let correction = exp(m - mNew);
    l *= correction;
    for (var c = 0u; c < D4; c++) { acc[c] *= correction; }
    for (var t = 0u; t < T; t++) {
      let pr = select(exp(s[t] - mNew), 0.0, j0 + t >= NK);
      l += pr;
      for (var c = 0u; c < D4; c++) { acc[c] += pr * vTile[t * D4 + c]; }
    }
    m = mNew;
    workgroupBarrier();
  }
  if (row < N) {
    let inv = 1.0 / l;
    for (var c = 0u; c < D4; c++) {
      let o = acc[c] * inv;
      for (var k = 0u; k < 4u; k++) {
        if (c * 4u + k < D) { OUT[qBase + c * 4u + k] = o[k]; }
      }
    }
  }
}`;
  return { name: 'flash_attention_relpos', wgsl, workgroupSize: [WG, 1, 1], dispatch: dispatchLinear(workgroups) };
}

/**
 * The definition on the host (test oracle): for q (batch, n, d), k and v (batch, kh*kw, d), relH
 * (batch, n, kh), relW (batch, n, kw): softmax_j(q_i·k_j * scale + relH[i, j / kw] + relW[i, j % kw]) v_j.
 */
export function flashAttentionReference(
  p: FlashAttentionParams, q: Float32Array, k: Float32Array, v: Float32Array, relH: Float32Array, relW: Float32Array,
): Float32Array {
  const { batch, n, kh, kw, d, scale } = p;
  const nk = kh * kw;
  const out = new Float32Array(batch * n * d);
  const scores = new Float64Array(nk);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < n; i++) {
      const qi = (b * n + i) * d;
      let max = -Infinity;
      for (let j = 0; j < nk; j++) {
        const kj = (b * nk + j) * d;
        let s = 0;
        for (let c = 0; c < d; c++) s += q[qi + c] * k[kj + c];
        s = s * scale + relH[(b * n + i) * kh + Math.floor(j / kw)] + relW[(b * n + i) * kw + (j % kw)];
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < nk; j++) sum += scores[j] = Math.exp(scores[j] - max);
      for (let j = 0; j < nk; j++) {
        const w = scores[j] / sum, vj = (b * nk + j) * d;
        for (let c = 0; c < d; c++) out[qi + c] += w * v[vj + c];
      }
    }
  }
  return out;
}
