// Tensor-level convolutions with PyTorch's F.conv2d / F.conv_transpose2d semantics: validate, allocate, dispatch.
import { ShapeError, UsageError } from '../errors.js';
import { conv2dKernel, conv2dOutputShape, type Conv2dGeometry, type Pair } from '../kernels/conv2d.js';
import { convTranspose2dKernel, convTranspose2dOutputShape, isNonOverlappingTranspose, type ConvTranspose2dGeometry } from '../kernels/conv-transpose2d.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv2dGemm, convGemmEligible, convTranspose2dTiledGemm } from './conv-gemm.js';
import { conv2dSubgroup, convSubgroupEligible } from './conv-subgroup.js';
import { assertFloat, assertRank, assertSameEngine, shapeText } from './checks.js';
import { record } from '../graph/autograd.js';
import { conv2dBackward, convTranspose2dBackward } from './conv-backward.js';

export interface Conv2dOptions {
  /** A number applies to both height and width; a pair is [h, w]. Default 1. */
  stride?: number | Pair;
  /** Zero padding on each side. Default 0. */
  padding?: number | Pair;
  /** Default 1. */
  dilation?: number | Pair;
  /** Default 1. */
  groups?: number;
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns on the bottom/right of the output (each below stride or dilation). Default 0. */
  outputPadding?: number | Pair;
}

function pair(op: string, name: string, value: number | Pair | undefined, fallback: number, min: number): Pair {
  const p: Pair = value === undefined ? [fallback, fallback] : typeof value === 'number' ? [value, value] : [value[0], value[1]];
  const wellFormed = typeof value !== 'object' || (Array.isArray(value) && value.length === 2);
  if (!wellFormed || !p.every((v) => Number.isInteger(v) && v >= min)) {
    throw new UsageError(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(value)}`);
  }
  return p;
}

function positiveGroups(op: string, groups: number | undefined): number {
  const g = groups ?? 1;
  if (!Number.isInteger(g) || g < 1) throw new UsageError(`${op}: groups must be a positive integer, got ${groups}`);
  return g;
}

/** Checks shared by both ops: engines, dtypes, ranks, the bias, and that groups divide both channel counts. */
function checkOperands(op: string, x: Tensor, w: Tensor, bias: Tensor | null, cin: number, cout: number, groups: number): void {
  const all = bias ? [x, w, bias] : [x, w];
  assertSameEngine(op, ...all);
  assertFloat(op, ...all);
  for (const t of all) if (t.dtype !== x.dtype) throw new ShapeError(`${op}: dtypes differ (input ${x.dtype}, ${t === w ? 'weight' : 'bias'} ${t.dtype})`);
  const shapes = `input ${shapeText(x)}, weight ${shapeText(w)}`;
  if (x.shape[1] % groups !== 0 || cout % groups !== 0) {
    throw new ShapeError(`${op}: groups ${groups} must divide the ${x.shape[1]} input and ${cout} output channels (${shapes})`);
  }
  if (x.shape[1] !== cin) {
    throw new ShapeError(`${op}: input has ${x.shape[1]} channels but weight expects ${cin} with groups ${groups} (${shapes})`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout)) {
    throw new ShapeError(`${op}: bias must have shape [${cout}], got ${shapeText(bias)} (${shapes})`);
  }
}

function checkOutput(op: string, out: number[], x: Tensor, w: Tensor, why: string): void {
  if (out[2] <= 0 || out[3] <= 0) {
    throw new ShapeError(`${op}: ${why}, so the output would be ${out[2]}x${out[3]} (input ${shapeText(x)}, weight ${shapeText(w)})`);
  }
}

/** F.conv2d: x (N, Cin, H, W), w (Cout, Cin / groups, kh, kw), bias (Cout) or null -> (N, Cout, Ho, Wo). */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  assertRank(op, x, 4, 'input');
  assertRank(op, w, 4, 'weight');
  const g: Conv2dGeometry = {
    xShape: x.shape, wShape: w.shape, groups: positiveGroups(op, options.groups),
    stride: pair(op, 'stride', options.stride, 1, 1),
    padding: pair(op, 'padding', options.padding, 0, 0),
    dilation: pair(op, 'dilation', options.dilation, 1, 1),
  };
  checkOperands(op, x, w, bias, w.shape[1] * g.groups, w.shape[0], g.groups);
  const out = conv2dOutputShape(g);
  const kernelExtent = [0, 1].map((d) => g.dilation[d] * (w.shape[2 + d] - 1) + 1);
  const paddedInput = [0, 1].map((d) => x.shape[2 + d] + 2 * g.padding[d]);
  checkOutput(op, out, x, w, `the kernel spans ${kernelExtent.join('x')} (dilation [${g.dilation.join(', ')}]) but the padded input is ${paddedInput.join('x')} (padding [${g.padding.join(', ')}])`);
  const y = x.engine.empty(out, x.dtype);
  if (y.size > 0 && convSubgroupEligible(x.engine, g, x.dtype)) {
    conv2dSubgroup(x, w, bias, g, y);
  } else if (y.size > 0 && convGemmEligible(x.engine, g, x.dtype)) {
    conv2dGemm(x, w, bias, g, y);
  } else if (y.size > 0) {
    const buffers = [{ buffer: x.buffer }, { buffer: w.buffer }, ...(bias ? [{ buffer: bias.buffer }] : []), { buffer: y.buffer, write: true }];
    const spec = conv2dKernel({ ...g, dtype: x.dtype, hasBias: bias !== null });
    x.engine.runtime.run(spec, buffers, spec.uniforms);
  }
  return record(y, op, bias ? [x, w, bias] : [x, w], (dy) => conv2dBackward(x, w, bias, dy, g));
}

/** F.conv_transpose2d: x (N, Cin, H, W), w (Cin, Cout / groups, kh, kw), bias (Cout) or null -> (N, Cout, Ho, Wo). */
export function convTranspose2d(x: Tensor, w: Tensor, bias: Tensor | null, options: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  assertRank(op, x, 4, 'input');
  assertRank(op, w, 4, 'weight');
  const g: ConvTranspose2dGeometry = {
    xShape: x.shape, wShape: w.shape, groups: positiveGroups(op, options.groups),
    stride: pair(op, 'stride', options.stride, 1, 1),
    padding: pair(op, 'padding', options.padding, 0, 0),
    outputPadding: pair(op, 'outputPadding', options.outputPadding, 0, 0),
    dilation: pair(op, 'dilation', options.dilation, 1, 1),
  };
  // As PyTorch: output padding only disambiguates between output sizes that stride or dilation map alike.
  for (let d = 0; d < 2; d++) {
    if (g.outputPadding[d] >= Math.max(g.stride[d], g.dilation[d])) {
      throw new UsageError(`${op}: outputPadding [${g.outputPadding.join(', ')}] must be smaller than stride [${g.stride.join(', ')}] or dilation [${g.dilation.join(', ')}]`);
    }
  }
  checkOperands(op, x, w, bias, w.shape[0], w.shape[1] * g.groups, g.groups);
  const out = convTranspose2dOutputShape(g);
  checkOutput(op, out, x, w, `padding [${g.padding.join(', ')}] removes more than the full output`);
  const tiled = x.size > 0 && w.size > 0 && g.groups === 1 && isNonOverlappingTranspose(g) ? convTranspose2dTiledGemm(x, w, bias) : null;
  const y = tiled ?? x.engine.empty(out, x.dtype);
  if (y.size > 0 && !tiled) {
    const buffers = [{ buffer: x.buffer }, { buffer: w.buffer }, ...(bias ? [{ buffer: bias.buffer }] : []), { buffer: y.buffer, write: true }];
    const spec = convTranspose2dKernel({ ...g, dtype: x.dtype, hasBias: bias !== null });
    x.engine.runtime.run(spec, buffers, spec.uniforms);
  }
  return record(y, op, bias ? [x, w, bias] : [x, w], (dy) => convTranspose2dBackward(x, w, bias, dy, g));
}
