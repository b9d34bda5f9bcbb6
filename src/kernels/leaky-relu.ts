// LeakyReLU, torch.nn.LeakyReLU(negative_slope) semantics: y = x for x > 0, slope * x otherwise;
// dx = dy where x > 0, slope * dy otherwise (PyTorch's leaky_relu_backward, x == 0 included).
// Its own file because the elementwise table (elementwise.ts) has no parameterised activation with
// this rule; vec4 when the size allows, as the UNet's activations always do.
import { bindingDecls, dispatchLinear, f32Literal, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { WGSL_MAIN_BUILTINS } from './reduce.js';

const WORKGROUP = 256;

function vecOf(size: number): { vec: 1 | 4; T: string; units: number } {
  const vec = size % 4 === 0 ? 4 : 1;
  return { vec, T: vec === 4 ? 'vec4<f32>' : 'f32', units: size / vec };
}

/** Bindings: X, Y. */
export function leakyReluKernel(p: { size: number; slope: number }): KernelSpec {
  const { T, units } = vecOf(p.size);
  const wgsl = `${bindingDecls([{ name: 'X', kind: 'read', type: `array<${T}>` }, { name: 'Y', kind: 'read_write', type: `array<${T}>` }])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(${WGSL_MAIN_BUILTINS}) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${units}u) { return; }
  let x = X[i];
  Y[i] = select(x * ${f32Literal(p.slope)}, x, x > ${T}(0.0));
}`;
  return { name: 'leaky_relu', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(units / WORKGROUP)) };
}

/** Bindings: X, DY, DX. */
export function leakyReluBackwardKernel(p: { size: number; slope: number }): KernelSpec {
  const { T, units } = vecOf(p.size);
  const wgsl = `${bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` }, { name: 'DY', kind: 'read', type: `array<${T}>` }, { name: 'DX', kind: 'read_write', type: `array<${T}>` },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(${WGSL_MAIN_BUILTINS}) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${units}u) { return; }
  let dy = DY[i];
  DX[i] = select(dy * ${f32Literal(p.slope)}, dy, X[i] > ${T}(0.0));
}`;
  return { name: 'leaky_relu_backward', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(units / WORKGROUP)) };
}

export const leakyReluReference = (x: number, slope: number) => (x > 0 ? x : slope * x);
