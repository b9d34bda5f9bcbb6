import { BINARY_OPS, binaryReference, UNARY_OPS, unaryReference, type BinaryOpName, type UnaryOpName } from '../kernels/elementwise.js';
import { binary, unary } from '../ops/elementwise.js';
import { numel } from '../tensor/dtype.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

const TOL = { atol: 2e-6, rtol: 4e-6 };
const tolerance = `atol ${TOL.atol} + rtol ${TOL.rtol}`;

export const elementwiseChecks: KernelCheck[] = [
  ...(Object.keys(UNARY_OPS) as UnaryOpName[]).flatMap((op) =>
    [[7], [3, 5, 7], [513, 129]].map((shape): KernelCheck => ({
      kernel: `elementwise/${op}`,
      case: `[${shape}]`,
      tolerance,
      async run(engine) {
        const positive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
        const x = seededUniform(numel(shape), numel(shape), positive ? 0.01 : -20, 20);
        const params = op === 'clamp' ? [-0.5, 2] : [];
        const y = await unary(op, engine.tensor(x, shape), params).readFloat();
        return compareArrays(y, unaryReference(op, x, params), TOL.atol, TOL.rtol);
      },
    })),
  ),
  ...(Object.keys(BINARY_OPS) as BinaryOpName[]).flatMap((op) =>
    ([[[2, 3, 4], [3, 1]], [[5, 1, 7], [1, 6, 1]], [[257, 129], [257, 129]]] as number[][][]).map(([sa, sb]): KernelCheck => ({
      kernel: `elementwise/${op}`,
      case: `[${sa}] with [${sb}]`,
      tolerance,
      async run(engine) {
        const a = seededUniform(numel(sa), 1, op === 'pow' ? 0.1 : -2, 3);
        const b = seededUniform(numel(sb), 2, op === 'div' ? 0.5 : -2, 2);
        const y = await binary(op, engine.tensor(a, sa), engine.tensor(b, sb)).readFloat();
        return compareArrays(y, binaryReference(op, a, sa, b, sb), TOL.atol, TOL.rtol);
      },
    })),
  ),
];
