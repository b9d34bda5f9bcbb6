import { describe, expect, it } from 'vitest';
import { binaryReference, unaryReference, UNARY_OPS, BINARY_OPS, type UnaryOpName, type BinaryOpName } from '../src/kernels/elementwise.js';
import { binary, unary } from '../src/ops/elementwise.js';
import { ShapeError } from '../src/errors.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { loadGoldenCases } from './golden.js';

// Tolerances: transcendental functions on GPUs are not correctly rounded (WGSL allows a few ulp, and
// lavapipe's exp/log use polynomial fits): 2e-6 absolute plus 2e-6 relative covers them.
const ATOL = 2e-6, RTOL = 2e-6;

function inputFor(op: UnaryOpName, n: number, seed: number): Float32Array {
  return ['log', 'sqrt', 'rsqrt'].includes(op) ? randomArray(n, seed, 0.01, 10) : randomArray(n, seed, -30, 30);
}

describe('unary ops against the TypeScript reference', () => {
  for (const op of Object.keys(UNARY_OPS) as UnaryOpName[]) {
    it(op, async () => {
      const engine = await testEngine();
      for (const shape of [[1], [3, 5, 7], [1000, 33]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = inputFor(op, n, n);
        const params = op === 'clamp' ? [-0.5, 2] : [];
        const y = unary(op, engine.tensor(x, shape), params);
        expect(y.shape).toEqual(shape);
        expectClose(await y.readFloat(), unaryReference(op, x, params), ATOL, op === 'exp' ? 4e-6 : RTOL, `${op} [${shape}]`);
      }
    });
  }
});

describe('binary ops with broadcasting against the TypeScript reference', () => {
  const pairs: [number[], number[]][] = [[[2, 3, 4], [3, 1]], [[5, 1, 7], [1, 6, 1]], [[1], [4, 4]], [[300, 301], [300, 301]], [[2, 1, 3], [2, 5, 1]]];
  for (const op of Object.keys(BINARY_OPS) as BinaryOpName[]) {
    it(op, async () => {
      const engine = await testEngine();
      for (const [sa, sb] of pairs) {
        const na = sa.reduce((a, b) => a * b, 1), nb = sb.reduce((a, b) => a * b, 1);
        const a = op === 'pow' ? randomArray(na, 1, 0.1, 3) : randomArray(na, 1, -2, 2);
        const b = op === 'div' ? randomArray(nb, 2, 0.5, 2) : randomArray(nb, 2, -2, 2);
        const y = binary(op, engine.tensor(a, sa), engine.tensor(b, sb));
        expectClose(await y.readFloat(), binaryReference(op, a, sa, b, sb), ATOL, RTOL, `${op} [${sa}] [${sb}]`);
      }
    });
  }

  it('pow follows PyTorch for negative bases and zero', async () => {
    const engine = await testEngine();
    const a = new Float32Array([-2, -2, -2, 0, 0, 0]);
    const b = new Float32Array([2, 3, 0.5, 2, 0, -1]);
    const y = await binary('pow', engine.tensor(a, [6]), engine.tensor(b, [6])).readFloat();
    expect(Array.from(y.slice(0, 2))).toEqual([4, -8]);
    expect(Number.isNaN(y[2])).toBe(true);
    expect(Array.from(y.slice(3))).toEqual([0, 1, Infinity]);
  });

  it('names the op and both shapes when shapes do not broadcast', async () => {
    const engine = await testEngine();
    const call = () => binary('add', engine.zeros([2, 3]), engine.zeros([4]));
    expect(call).toThrow(ShapeError);
    expect(call).toThrow('add: shapes [2, 3] and [4] do not broadcast');
  });
});

describe('elementwise ops against PyTorch goldens', () => {
  it('unary', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('unary');
    expect(cases.length).toBeGreaterThanOrEqual(11);
    for (const c of cases) {
      const fn = c.params.fn as UnaryOpName;
      const params = fn === 'clamp' ? [c.params.min as number, c.params.max as number] : [];
      const y = unary(fn, engine.tensor(c.inputs.x.data as Float32Array, c.inputs.x.shape), params);
      expectClose(await y.readFloat(), c.outputs.out.data, 1e-5, 1e-5, c.name);
    }
  });
  it('binary', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('binary');
    expect(cases.length).toBeGreaterThanOrEqual(5);
    for (const c of cases) {
      const { a, b } = c.inputs;
      const y = binary(c.params.fn as BinaryOpName, engine.tensor(a.data as Float32Array, a.shape), engine.tensor(b.data as Float32Array, b.shape));
      expect(y.shape).toEqual(c.outputs.out.shape);
      expectClose(await y.readFloat(), c.outputs.out.data, 1e-5, 1e-5, c.name);
    }
  });
});
