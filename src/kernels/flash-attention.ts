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

/** Where the kernel finds q, k, v and the bias, and where it writes: the two layouts below. */
interface FlashLayout {
  bindings: { name: string; kind: 'read' | 'read_write'; type: string }[];
  /** WGSL: per-workgroup setup after `b` (the batch-of-heads index) is known. */
  setup: string;
  /** Element offset of query row r's first element / key row j's, and of output row r. */
  qBase: string;
  kvBase: (kind: 'K' | 'V') => string;
  outBase: string;
  /** WGSL run once per query row with the unscaled q in `q`: declares what `bias(jj)` reads. */
  biasSetup: string;
  /** WGSL expression: the bias of key jj for this row. */
  bias: string;
  /** Array names for K and V loads (the same buffer in the packed layout). */
  kName: string;
  vName: string;
  /** q, k and v buffers declared as array<vec4<f32>> (d a multiple of 4): one load per vec4, which on llvmpipe is 4x less code and time than four scalar loads. */
  vec4Loads?: boolean;
}

/** Bindings: Q (batch, n, d), K and V (batch, kh*kw, d), RH (batch, n, kh), RW (batch, n, kw), OUT (batch, n, d). */
export function flashAttentionKernel(p: FlashAttentionParams): KernelSpec {
  const { n, kh, kw, d } = p;
  const nk = kh * kw;
  return flashKernel('flash_attention_relpos', p, {
    bindings: [
      { name: 'Q', kind: 'read', type: 'array<f32>' },
      { name: 'K', kind: 'read', type: 'array<f32>' },
      { name: 'V', kind: 'read', type: 'array<f32>' },
      { name: 'RH', kind: 'read', type: 'array<f32>' },
      { name: 'RW', kind: 'read', type: 'array<f32>' },
      { name: 'OUT', kind: 'read_write', type: 'array<f32>' },
    ],
    setup: '',
    qBase: `(b * ${n}u + r) * ${d}u`,
    kvBase: () => `(b * ${nk}u + jc) * ${d}u`,
    outBase: `(b * ${n}u + r) * ${d}u`,
    biasSetup: `let rhBase = (b * N + r) * KH;\n  let rwBase = (b * N + r) * KW;`,
    bias: 'RH[rhBase + jj / KW] + RW[rwBase + jj % KW]',
    kName: 'K', vName: 'V',
  });
}

export interface PackedFlashAttentionParams {
  /** Images (windows, for windowed attention). */
  batch: number;
  heads: number;
  /** The token grid: queries and keys are the same qh x qw tokens (self-attention). */
  qh: number;
  qw: number;
  /** Head dim. */
  d: number;
  scale: number;
}

/**
 * SAM's attention straight from the qkv projection's output. Bindings: QKV (batch, qh*qw, 3, heads, d)
 * as the Linear writes it (no permute, no slicing into q, k and v), RH (batch*heads, qh*qw, qh) and RW
 * (batch*heads, qh*qw, qw) from relPosTermsKernel, OUT (batch, qh*qw, heads, d): the layout the output
 * projection reads (no head merge).
 */
export function packedFlashAttentionKernel(p: PackedFlashAttentionParams): KernelSpec {
  const { batch, heads, qh, qw, d } = p;
  const n = qh * qw, c = heads * d;
  const vec4 = d % 4 === 0;
  return flashKernel('flash_attention_relpos_packed', { batch: batch * heads, n, kh: qh, kw: qw, d, scale: p.scale }, {
    bindings: [
      { name: 'QKV', kind: 'read', type: vec4 ? 'array<vec4<f32>>' : 'array<f32>' },
      { name: 'RH', kind: 'read', type: 'array<f32>' },
      { name: 'RW', kind: 'read', type: 'array<f32>' },
      { name: 'OUT', kind: 'read_write', type: 'array<f32>' },
    ],
    // b counts (image, head) pairs: image = b / heads, head = b % heads.
    setup: `let image = b / ${heads}u;\n  let head = b % ${heads}u;`,
    qBase: `((image * ${n}u + r) * 3u) * ${c}u + head * ${d}u`,
    kvBase: (kind) => `((image * ${n}u + jc) * 3u + ${kind === 'K' ? 1 : 2}u) * ${c}u + head * ${d}u`,
    outBase: `(image * ${n}u + r) * ${c}u + head * ${d}u`,
    biasSetup: `let rhBase = (b * N + r) * KH;\n  let rwBase = (b * N + r) * KW;`,
    bias: 'RH[rhBase + jj / KW] + RW[rwBase + jj % KW]',
    kName: 'QKV', vName: 'QKV', vec4Loads: vec4,
  });
}

/**
 * add_decomposed_rel_pos's two terms read from the packed qkv: for query i = (y, x) of (image, head) b,
 * RH_OUT[b, i, ky] = q_i·TH[y, ky] and RW_OUT[b, i, kx] = q_i·TW[x, kx], q unscaled. Bindings: QKV
 * (batch, qh*qw, 3, heads, d), TH (qh, qh, d), TW (qw, qw, d), RH_OUT (batch*heads, qh*qw, qh), RW_OUT
 * (batch*heads, qh*qw, qw). One invocation per output element. (Computing these inside the attention
 * kernel instead made lavapipe's compile take minutes: per-lane arrays indexed at run time.)
 */
export function relPosTermsKernel(p: Omit<PackedFlashAttentionParams, 'scale'>): KernelSpec {
  const { batch, heads, qh, qw, d } = p;
  const n = qh * qw, c = heads * d, kk = qh + qw;
  const total = batch * heads * n * kk;
  const vec4 = d % 4 === 0;
  const type = vec4 ? 'array<vec4<f32>>' : 'array<f32>';
  const decls = bindingDecls([
    { name: 'QKV', kind: 'read', type },
    { name: 'TH', kind: 'read', type },
    { name: 'TW', kind: 'read', type },
    { name: 'RH_OUT', kind: 'read_write', type: 'array<f32>' },
    { name: 'RW_OUT', kind: 'read_write', type: 'array<f32>' },
  ]);
  const dot = vec4
    ? `for (var e = 0u; e < ${d / 4}u; e++) { acc4 += QKV[qBase / 4u + e] * table4(isH, tBase / 4u + e); }`
    : `for (var e = 0u; e < ${d}u; e++) { acc4.x += QKV[qBase + e] * table1(isH, tBase + e); }`;
  const wgsl = /* wgsl */ `${decls}
${WGSL_LINEAR_WORKGROUP}
${vec4
    ? 'fn table4(isH: bool, i: u32) -> vec4<f32> { if (isH) { return TH[i]; } return TW[i]; }'
    : 'fn table1(isH: bool, i: u32) -> f32 { if (isH) { return TH[i]; } return TW[i]; }'}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = linearWorkgroup(wid, nwg) * 64u + lid;
  if (o >= ${total}u) { return; }
  let k = o % ${kk}u;          // ky < qh, else qh + kx
  let row = o / ${kk}u;        // (image * heads + head) * n + i
  let i = row % ${n}u;
  let b = row / ${n}u;
  let image = b / ${heads}u;
  let head = b % ${heads}u;
  let isH = k < ${qh}u;
  let qBase = ((image * ${n}u + i) * 3u) * ${c}u + head * ${d}u;
  let tBase = select(((i % ${qw}u) * ${qw}u + (k - ${qh}u)) * ${d}u, ((i / ${qw}u) * ${qh}u + k) * ${d}u, isH);
  var acc4 = vec4<f32>(0.0);
  ${dot}
  let v = dot(acc4, vec4<f32>(1.0));
  if (isH) { RH_OUT[row * ${qh}u + k] = v; } else { RW_OUT[row * ${qw}u + (k - ${qh}u)] = v; }
}`;
  return { name: 'rel_pos_terms_packed', wgsl, workgroupSize: [64, 1, 1], dispatch: dispatchLinear(Math.ceil(total / 64)) };
}

/** p.batch counts (image, head) pairs: the workgroups' batch dimension. */
function flashKernel(name: string, p: FlashAttentionParams, layout: FlashLayout): KernelSpec {
  const { batch, n, kh, kw, d } = p;
  const nk = kh * kw, d4 = Math.ceil(d / 4), T = flashKeyTile(d), WG = ROWS_PER_WORKGROUP;
  const rowTiles = Math.ceil(n / WG);
  const workgroups = batch * rowTiles;
  // A vec4 from four scalars of a row at element offset `base`; components past d read as 0.
  const load4 = (arr: string, base: string, c4: string) => layout.vec4Loads
    ? `${arr}[${base} / 4u + ${c4}]`
    : d % 4 === 0
    ? `vec4<f32>(${arr}[${base} + ${c4} * 4u], ${arr}[${base} + ${c4} * 4u + 1u], ${arr}[${base} + ${c4} * 4u + 2u], ${arr}[${base} + ${c4} * 4u + 3u])`
    : `vec4<f32>(${[0, 1, 2, 3].map((o) => `select(0.0, ${arr}[min(${base} + ${c4} * 4u + ${o}u, ${base} + D - 1u)], ${c4} * 4u + ${o}u < D)`).join(', ')})`;
  const wgsl = /* wgsl */ `${bindingDecls(layout.bindings)}
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
  ${layout.setup}
  let row = (g % ROW_TILES) * WG + lid;
  // Rows past N compute a copy of the last row (keeping every lane in the barriers) and write nothing.
  let r = min(row, N - 1u);
  let qBase = ${layout.qBase};
  var q: array<vec4<f32>, D4>;
  var acc: array<vec4<f32>, D4>;
  for (var c = 0u; c < D4; c++) {
    q[c] = ${load4(layout.bindings[0].name, 'qBase', 'c')};
    acc[c] = vec4<f32>(0.0);
  }
  ${layout.biasSetup}
  for (var c = 0u; c < D4; c++) { q[c] *= SCALE; }
  var m = LOWEST;
  var l = 0.0;
  var s: array<f32, T>;
  for (var j0 = 0u; j0 < NK; j0 += T) {
    for (var e = lid; e < T * D4; e += WG) {
      let jc = min(j0 + e / D4, NK - 1u);
      let c = e % D4;
      let kBase = ${layout.kvBase('K')};
      let vBase = ${layout.kvBase('V')};
      kTile[e] = ${load4(layout.kName, 'kBase', 'c')};
      vTile[e] = ${load4(layout.vName, 'vBase', 'c')};
    }
    workgroupBarrier();
    var tileMax = LOWEST;
    for (var t = 0u; t < T; t++) {
      let j = j0 + t;
      var dot4 = vec4<f32>(0.0);
      for (var c = 0u; c < D4; c++) { dot4 += q[c] * kTile[t * D4 + c]; }
      let jj = min(j, NK - 1u);
      let score = dot(dot4, vec4<f32>(1.0)) + ${layout.bias};
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
    let outBase = ${layout.outBase};
    for (var c = 0u; c < D4; c++) {
      let o = acc[c] * inv;
      for (var k = 0u; k < 4u; k++) {
        if (c * 4u + k < D) { OUT[outBase + c * 4u + k] = o[k]; }
      }
    }
  }
}`;
  return { name, wgsl, workgroupSize: [WG, 1, 1], dispatch: dispatchLinear(workgroups) };
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

/**
 * The packed layout's definition on the host: QKV (batch, qh*qw, 3, heads, d), RH (qh, qh, d), RW
 * (qw, qw, d) -> (batch, qh*qw, heads, d), through flashAttentionReference on the unpacked q, k, v and
 * the bias terms add_decomposed_rel_pos computes (q unscaled).
 */
export function packedFlashAttentionReference(p: PackedFlashAttentionParams, qkv: Float32Array, rh: Float32Array, rw: Float32Array): Float32Array {
  const { batch, heads, qh, qw, d, scale } = p;
  const n = qh * qw, c = heads * d, bh = batch * heads;
  const q = new Float32Array(bh * n * d), k = new Float32Array(bh * n * d), v = new Float32Array(bh * n * d);
  const relH = new Float32Array(bh * n * qh), relW = new Float32Array(bh * n * qw);
  for (let img = 0; img < batch; img++) {
    for (let h = 0; h < heads; h++) {
      const b = img * heads + h;
      for (let i = 0; i < n; i++) {
        for (const [part, dst] of [[0, q], [1, k], [2, v]] as const) {
          for (let e = 0; e < d; e++) dst[(b * n + i) * d + e] = qkv[((img * n + i) * 3 + part) * c + h * d + e];
        }
        const y = Math.floor(i / qw), x = i % qw;
        for (let ky = 0; ky < qh; ky++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += q[(b * n + i) * d + e] * rh[(y * qh + ky) * d + e];
          relH[(b * n + i) * qh + ky] = s;
        }
        for (let kx = 0; kx < qw; kx++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += q[(b * n + i) * d + e] * rw[(x * qw + kx) * d + e];
          relW[(b * n + i) * qw + kx] = s;
        }
      }
    }
  }
  const out = flashAttentionReference({ batch: bh, n, kh: qh, kw: qw, d, scale }, q, k, v, relH, relW); // (bh, n, d)
  const merged = new Float32Array(batch * n * c);
  for (let img = 0; img < batch; img++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) merged.set(out.subarray(((img * heads + h) * n + i) * d, ((img * heads + h) * n + i + 1) * d), (img * n + i) * c + h * d);
    }
  }
  return merged;
}
