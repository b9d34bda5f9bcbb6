// Command-line flags shared by the two Node-side drivers (node.ts, chromium.ts).
import { MATMUL_SHAPES, matmulCaseName, QUICK_MATMUL_SHAPES, type MatmulShape } from './matmul.js';

export interface BenchArgs {
  quick: boolean;
  /** Case-name substrings (--filter=matmul,softmax); all cases when empty. */
  filter: string[];
  /** Where the JSON record goes. */
  out: string;
}

export function parseBenchArgs(argv: string[], defaultOut: string): BenchArgs {
  const args: BenchArgs = { quick: false, filter: [], out: defaultOut };
  for (const a of argv) {
    if (a === '--quick') args.quick = true;
    else if (a.startsWith('--filter=')) args.filter = a.slice('--filter='.length).split(',').filter(Boolean);
    else if (a.startsWith('--out=')) args.out = a.slice('--out='.length);
    else throw new Error(`unknown argument ${a} (expected --quick, --filter=a,b, --out=path)`);
  }
  return args;
}

/** The matmul shapes the numpy line times: the same ones the suite runs. */
export function numpyShapes(args: BenchArgs): MatmulShape[] {
  const shapes = args.quick ? QUICK_MATMUL_SHAPES : MATMUL_SHAPES;
  return shapes.filter((s) => !args.filter.length || args.filter.some((f) => matmulCaseName(s).includes(f)));
}
