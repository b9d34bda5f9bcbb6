import { describe, expect, it } from 'vitest';
import { BINARY_OPS, broadcastShape, broadcastStrides, UNARY_OPS, type BinaryOpName, type UnaryOpName } from '../../src/kernels/elementwise.js';
import { stridesOf } from '../../src/kernels/kernel.js';
import { erf64 } from '../../src/kernels/matmul.js';
import { backward, noGrad } from '../../src/graph/autograd.js';
import { add, binary, mul, relu, unary } from '../../src/ops/elementwise.js';
import { randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

// float64 definitions for finite differences (UNARY_OPS' references use erf accurate to 1e-7 only).
const F64: Record<UnaryOpName, (x: number, p: number[]) => number> = {
  ...Object.fromEntries(Object.entries(UNARY_OPS).map(([k, v]) => [k, v.reference])) as Record<UnaryOpName, (x: number, p: number[]) => number>,
  gelu: (x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)),
};

function inputFor(op: UnaryOpName, n: number): Float32Array {
  if (['log', 'sqrt', 'rsqrt'].includes(op)) return randomArray(n, 3, 0.2, 3);
  // Keep away from kinks (relu, abs, clamp at -0.5 and 2) by more than the FD step.
  return randomArray(n, 3, -3, 3).map((v) => (Math.abs(v) < 0.01 || Math.abs(v + 0.5) < 0.01 || Math.abs(v - 2) < 0.01 ? v + 0.05 : v));
}

describe('elementwise backward rules against float64 finite differences', () => {
  for (const op of Object.keys(UNARY_OPS) as UnaryOpName[]) {
    it(op, async () => {
      const engine = await testEngine();
      const params = op === 'clamp' ? [-0.5, 2] : [];
      await checkGradients(engine, op, [{ data: inputFor(op, 37), shape: [37] }], ([x]) => unary(op, x, params), ([x]) => x.map((v) => F64[op](v, params)));
    });
  }

  const pairs: [number[], number[]][] = [[[3, 4], [3, 4]], [[2, 3, 4], [3, 1]], [[5, 1, 2], [1, 3, 1]], [[1], [2, 3]]];
  for (const op of Object.keys(BINARY_OPS) as BinaryOpName[]) {
    it(`${op} with broadcasting`, async () => {
      const engine = await testEngine();
      for (const [sa, sb] of pairs) {
        const na = sa.reduce((x, y) => x * y, 1), nb = sb.reduce((x, y) => x * y, 1);
        const a = op === 'pow' ? randomArray(na, 1, 0.5, 2) : randomArray(na, 1, -2, 2);
        const b = op === 'div' ? randomArray(nb, 2, 0.5, 2) : randomArray(nb, 2, -2, 2);
        const out = broadcastShape(sa, sb)!;
        const ref = ([x, y]: Float64Array[]) => {
          const stA = broadcastStrides(sa, out), stB = broadcastStrides(sb, out), so = stridesOf(out);
          const n = out.reduce((p, q) => p * q, 1);
          const r = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            let ia = 0, ib = 0;
            for (let k = 0; k < out.length; k++) { const c = Math.floor(i / so[k]) % out[k]; ia += c * stA[k]; ib += c * stB[k]; }
            r[i] = BINARY_OPS[op].reference(x[ia], y[ib]);
          }
          return r;
        };
        await checkGradients(engine, `${op} [${sa}] [${sb}]`, [{ data: a, shape: sa }, { data: b, shape: sb }], ([x, y]) => binary(op, x, y), ref);
      }
    });
  }
});

describe('autograd mechanics', () => {
  it('accumulates through a shared subgraph once per path (topological order)', async () => {
    const engine = await testEngine();
    const x = engine.tensor([1, -2, 3], [3]);
    x.requiresGrad = true;
    // y = relu(x) used twice: L = sum(r * r + r) -> dL/dx = (2r + 1) * [x > 0]
    const r = relu(x);
    const y = add(mul(r, r), r);
    backward(y, engine.fill([3], 1));
    expect(Array.from(await x.grad!.read())).toEqual([3, 0, 7]);
  });

  it('accumulates into .grad across backward calls, as PyTorch does', async () => {
    const engine = await testEngine();
    const x = engine.tensor([2], [1]);
    x.requiresGrad = true;
    backward(mul(x, x));
    backward(mul(x, x));
    expect(Array.from(await x.grad!.read())).toEqual([8]);
  });

  it('records nothing under noGrad or when no input requires a gradient', async () => {
    const engine = await testEngine();
    const x = engine.tensor([1], [1]);
    x.requiresGrad = true;
    expect(noGrad(() => relu(x)).creator).toBeNull();
    expect(relu(engine.tensor([1], [1])).creator).toBeNull();
    expect(relu(x).creator).not.toBeNull();
    expect(() => backward(noGrad(() => relu(x)))).toThrow(/does not require a gradient/);
  });

  it('frees every intermediate: live tensors after a step equal those before, plus the grads', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(64, 1), [8, 8]);
    const w = engine.tensor(randomArray(8, 2), [8]);
    x.requiresGrad = true;
    w.requiresGrad = true;
    const step = () => engine.scope(() => { backward(unary('tanh', mul(add(x, w), x)), engine.fill([8, 8], 1)); });
    step();
    await engine.sync();
    const live = engine.memory().liveTensors;
    const bytes = engine.memory().liveBytes;
    for (let i = 0; i < 5; i++) step();
    await engine.sync();
    expect(engine.memory().liveTensors).toBe(live);
    expect(engine.memory().liveBytes).toBe(bytes);
  });
});
