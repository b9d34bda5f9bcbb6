// conv2d cases at SAM's shapes (image encoder on a 1024x1024 input): the patch embedding and the two
// neck convolutions. tfjs runs the same NCHW layout (dataFormat 'NCHW'); only its filter is HWIO.
import type { Engine } from '../../src/engine.js';
import { conv2dOutputShape, type Conv2dGeometry } from '../../src/kernels/conv2d.js';
import { conv2d } from '../../src/ops/conv.js';
import { compareValues, sampleIndices, seededArray, type TimingPlan } from './measure.js';
import type { BenchCase, CheckResult, Prepared, Tf } from './types.js';

type TfTensor4D = import('@tensorflow/tfjs-core').Tensor4D;

interface ConvShape { label: string; xShape: [number, number, number, number]; wShape: [number, number, number, number]; stride: number; padding: number }

const CONV_SHAPES: ConvShape[] = [
  { label: 'SAM patch_embed.proj (16x16, stride 16)', xShape: [1, 3, 1024, 1024], wShape: [768, 3, 16, 16], stride: 16, padding: 0 },
  { label: 'SAM neck[0] (1x1, 768 to 256)', xShape: [1, 768, 64, 64], wShape: [256, 768, 1, 1], stride: 1, padding: 0 },
  { label: 'SAM neck[2] (3x3, 256 to 256)', xShape: [1, 256, 64, 64], wShape: [256, 256, 3, 3], stride: 1, padding: 1 },
];

const PLAN: TimingPlan = { warmup: 1, iterations: 3, budgetMs: 8000 };

function geometry(s: ConvShape): Conv2dGeometry {
  return { xShape: s.xShape, wShape: s.wShape, stride: [s.stride, s.stride], padding: [s.padding, s.padding], dilation: [1, 1], groups: 1 };
}

export function convCases(quick: boolean): BenchCase[] {
  return (quick ? CONV_SHAPES.slice(1, 2) : CONV_SHAPES).map((s, i) => {
    const [, cout, ho, wo] = conv2dOutputShape(geometry(s));
    const [, cin, kh, kw] = s.wShape;
    return {
      family: 'conv2d', name: `conv2d ${s.xShape.join('x')} * ${s.wShape.join('x')}`,
      params: { ...s, outShape: [s.xShape[0], cout, ho, wo] }, unit: 'GFLOP/s',
      work: 2 * s.xShape[0] * cout * ho * wo * cin * kh * kw,
      ours: PLAN, tfjs: PLAN,
      prepare: (engine, tf) => prepareConv(engine, tf, s, 4000 + i),
    } satisfies BenchCase;
  });
}

function prepareConv(engine: Engine, tf: Tf | null, s: ConvShape, seed: number): Prepared {
  const g = geometry(s);
  const [n, cin, h, w] = s.xShape;
  const [cout, , kh, kw] = s.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const xHost = seededArray(n * cin * h * w, seed);
  const wHost = seededArray(cout * cin * kh * kw, seed + 1);
  const x = engine.tensor(xHost, s.xShape), weight = engine.tensor(wHost, s.wShape);
  // tfjs wants the filter as (kh, kw, Cin, Cout).
  let tx: TfTensor4D | undefined, tw: TfTensor4D | undefined;
  if (tf) {
    const hwio = new Float32Array(wHost.length);
    for (let co = 0; co < cout; co++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) hwio[((ky * kw + kx) * cin + ci) * cout + co] = wHost[((co * cin + ci) * kh + ky) * kw + kx];
      }
    }
    tx = tf.tensor4d(xHost, s.xShape);
    tw = tf.tensor4d(hwio, [kh, kw, cin, cout]);
  }
  // Sampled outputs in float64: 16 output channels x 32 output pixels.
  const channels = sampleIndices(cout, 16, seed + 2), pixels = sampleIndices(ho * wo, 32, seed + 3);
  const indices: number[] = [], expected: number[] = [];
  for (const co of channels) {
    for (const p of pixels) {
      const oy = Math.floor(p / wo), ox = p % wo;
      let acc = 0;
      for (let ci = 0; ci < cin; ci++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * s.stride - s.padding + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * s.stride - s.padding + kx;
            if (ix >= 0 && ix < w) acc += xHost[(ci * h + iy) * w + ix] * wHost[((co * cin + ci) * kh + ky) * kw + kx];
          }
        }
      }
      indices.push(co * ho * wo + p);
      expected.push(acc);
    }
  }
  const atol = 2e-6 * cin * kh * kw, rtol = 0; // as for matmul: inputs in [-1, 1), K = Cin kh kw terms
  const against = (what: string) => `${what} at ${indices.length} sampled elements vs float64 CPU reference`;
  return {
    runOurs: () => conv2d(x, weight, null, { stride: s.stride, padding: s.padding }),
    runTfjs: tf && tx && tw ? () => tf.conv2d(tx, tw, s.stride, s.padding, 'NCHW') : null,
    checkOurs: (out) => ({ ...compareValues(out, expected, atol, rtol, indices), against: against('ours'), atol, rtol }),
    checkTfjs: (tfjsOut, oursOut): CheckResult[] => [
      { ...compareValues(tfjsOut, expected, atol, rtol, indices), against: against('tfjs'), atol, rtol },
      { ...compareValues(tfjsOut, oursOut, 2 * atol, rtol), against: 'tfjs vs ours, every element', atol: 2 * atol, rtol },
    ],
    dispose: () => [x, weight, tx, tw].forEach((t) => t?.dispose()),
  };
}
