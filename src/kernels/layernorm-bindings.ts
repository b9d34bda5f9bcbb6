// The bindings of layerNorm's CPU-adapter kernels (layernorm.ts's invocation layout and
// layernorm-subgroup.ts): X, W, B, Y and optionally Mean, Rstd, as arrays sized to the shape. The
// kernels are specialised to the shape anyway, and bounds checks against a constant are cheaper than
// against the bound buffer's length (runtime-sized arrays) on SwiftShader.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls } from './kernel.js';

export function sizedLayerNormBindings(
  p: { rows: number; dtype: DType; paramDtype: DType; saveStats: boolean }, units: number, vec: 1 | 4,
): string {
  const V = (t: DType) => (vec === 4 ? `vec4<${t}>` : t);
  const sized = (t: string, count: number) => (count > 0 ? `array<${t}, ${count}>` : `array<${t}>`);
  return bindingDecls([
    { name: 'X', kind: 'read', type: sized(V(p.dtype), p.rows * units) },
    { name: 'W', kind: 'read', type: sized(V(p.paramDtype), units) },
    { name: 'B', kind: 'read', type: sized(V(p.paramDtype), units) },
    { name: 'Y', kind: 'read_write', type: sized(V(p.dtype), p.rows * units) },
    ...(p.saveStats
      ? [{ name: 'Mean', kind: 'read_write' as const, type: sized('f32', p.rows) }, { name: 'Rstd', kind: 'read_write' as const, type: sized('f32', p.rows) }]
      : []),
  ]);
}
