// Times classMetrics (Dice + HD95 of every class) on an MNI-sized 181x217x181 label volume with 6
// classes (background + 5): a brain-sized ellipsoid shell that spans the grid and four smaller
// structures inside it; the prediction is the same shapes shifted and resized by a few voxels.
// Not a test (vitest ignores it). Run:
//   npx esbuild test/eval/time-metrics.ts --bundle --platform=node --format=esm --outfile=/tmp/time-metrics.mjs && node /tmp/time-metrics.mjs
import type { Vec3 } from '../../src/data/volume.js';
import { classMetrics } from '../../src/eval/metrics.js';

const dims: Vec3 = [181, 217, 181];
const spacing: Vec3 = [1, 1, 1];

interface Ellipsoid { label: number; c: Vec3; r: Vec3 }

function paint(shapes: Ellipsoid[]): Uint8Array {
  const [X, Y, Z] = dims;
  const out = new Uint8Array(X * Y * Z);
  for (let z = 0, i = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, i++) {
    for (const { label, c, r } of shapes) {
      const q = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2;
      if (q <= 1) out[i] = label; // later shapes paint over earlier ones
    }
  }
  return out;
}

const truthShapes: Ellipsoid[] = [
  { label: 1, c: [90, 108, 90], r: [80, 100, 78] },
  { label: 2, c: [90, 108, 90], r: [60, 78, 55] },
  { label: 3, c: [60, 100, 85], r: [12, 20, 15] },
  { label: 4, c: [120, 100, 85], r: [12, 20, 15] },
  { label: 5, c: [90, 170, 60], r: [25, 18, 20] },
];
const predShapes: Ellipsoid[] = truthShapes.map((s, k) => ({
  label: s.label,
  c: [s.c[0] + (k % 2 ? 2 : -1), s.c[1] + 1, s.c[2] - (k % 3)],
  r: [s.r[0] * 0.97, s.r[1] * 1.02, s.r[2] * (k % 2 ? 0.95 : 1.04)],
}));
const truth = paint(truthShapes);
const pred = paint(predShapes);

const runs: number[] = [];
let result = classMetrics(pred, truth, dims, spacing, 6);
for (let run = 0; run < 3; run++) {
  const t0 = performance.now();
  result = classMetrics(pred, truth, dims, spacing, 6);
  runs.push(performance.now() - t0);
}
for (const m of result) console.log(`class ${m.label}: dice ${m.dice.toFixed(4)} hd95 ${m.hd95.toFixed(3)} mm (${m.truthVoxels} truth voxels)`);
console.log(`classMetrics on ${dims.join('x')}, 6 classes: ${runs.map((t) => t.toFixed(0)).join(', ')} ms (3 runs after one warm-up)`);
