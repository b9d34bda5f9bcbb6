// segment-anything's get_rel_pos as a matrix: the (q_size * k_size, L) rows that pick (or linearly
// interpolate) table entries, so that R = S @ rel_pos is one matmul of a recorded op and the gradient
// reaches the table. Built on the host once per (q_size, k_size, L); float32 arithmetic is emulated
// with Math.fround where PyTorch computes in float32, so the truncations land on the same entries.

/**
 * F.interpolate(table (1, C, L), size=out, mode='linear', align_corners=False) as an (out, L)
 * matrix: row i holds the weights of the (at most two) source entries of output i.
 */
export function linearInterpolationMatrix(length: number, out: number): Float32Array {
  const m = new Float32Array(out * length);
  const f = Math.fround;
  const scale = f(length / out);
  for (let i = 0; i < out; i++) {
    // area_pixel_compute_source_index: scale * (i + 0.5) - 0.5, clamped at 0.
    const src = Math.max(0, f(f(scale * f(i + 0.5)) - 0.5));
    const i0 = Math.min(Math.floor(src), length - 1);
    const i1 = Math.min(i0 + 1, length - 1);
    const lambda1 = f(src - i0), lambda0 = f(1 - lambda1);
    m[i * length + i0] += lambda0;
    m[i * length + i1] += lambda1;
  }
  return m;
}

/** The table index (into the resized table) that get_rel_pos gathers for query i and key j. */
export function relativeIndex(qSize: number, kSize: number): Int32Array {
  const f = Math.fround;
  const qScale = f(Math.max(kSize / qSize, 1)), kScale = f(Math.max(qSize / kSize, 1));
  const offset = f((kSize - 1) * kScale);
  const out = new Int32Array(qSize * kSize);
  for (let i = 0; i < qSize; i++) {
    for (let j = 0; j < kSize; j++) out[i * kSize + j] = Math.trunc(f(f(f(i * qScale) - f(j * kScale)) + offset));
  }
  return out;
}

/**
 * S (q_size * k_size, L) with get_rel_pos(q_size, k_size, table) == (S @ table).reshape(q, k, C)
 * for any table of L rows: a one-hot row per (i, j) when L == 2 * max(q, k) - 1, otherwise the
 * interpolation row of the index it picks.
 */
export function relPosSelectionMatrix(qSize: number, kSize: number, length: number): Float32Array {
  const maxRelDist = 2 * Math.max(qSize, kSize) - 1;
  const idx = relativeIndex(qSize, kSize);
  const s = new Float32Array(qSize * kSize * length);
  if (length === maxRelDist) {
    for (let r = 0; r < idx.length; r++) s[r * length + idx[r]] = 1;
    return s;
  }
  const interp = linearInterpolationMatrix(length, maxRelDist); // (maxRelDist, L)
  for (let r = 0; r < idx.length; r++) s.set(interp.subarray(idx[r] * length, (idx[r] + 1) * length), r * length);
  return s;
}

/** get_rel_pos on the host (the readable definition, for tests): table (L, C) -> (q_size, k_size, C). */
export function getRelPosReference(qSize: number, kSize: number, table: Float32Array, channels: number): Float32Array {
  const length = table.length / channels;
  const s = relPosSelectionMatrix(qSize, kSize, length);
  const out = new Float32Array(qSize * kSize * channels);
  for (let r = 0; r < qSize * kSize; r++) {
    for (let l = 0; l < length; l++) {
      const w = s[r * length + l];
      if (w === 0) continue;
      for (let c = 0; c < channels; c++) out[r * channels + c] += w * table[l * channels + c];
    }
  }
  return out;
}
