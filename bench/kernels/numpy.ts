// The native line: numpy's float32 matmul (sgemm in whatever BLAS numpy links) at the benchmark's
// matmul shapes, timed in a Python child process. Node only.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { MatmulShape } from './matmul.js';

export interface NumpyCase extends MatmulShape {
  medianMs: number;
  minMs: number;
  runs: number;
  /** At the median time. */
  gflops: number;
}

export interface NumpyLine {
  available: boolean;
  /** Why it is missing, or anything worth knowing about how it ran. */
  note?: string;
  python?: string;
  numpyVersion?: string;
  blas?: string;
  blasThreads?: number | null;
  cpuCount?: number;
  cases: NumpyCase[];
}

// Times each shape: one warm-up, then at least 5 runs and 0.5 s (small shapes take well under a
// millisecond and are noisy), stopping at 200 runs or after 3 s (with at least 2 runs).
const SCRIPT = String.raw`
import json, os, sys, time, glob, ctypes
import numpy as np
shapes = json.loads(sys.argv[1])
info = {"numpyVersion": np.__version__, "cpuCount": os.cpu_count(), "blas": None, "blasThreads": None}
try:
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    info["blas"] = " ".join(str(blas.get(k, "")) for k in ("name", "version")).strip() or None
except Exception:
    pass
try:
    from threadpoolctl import threadpool_info
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if pools:
        info["blasThreads"] = pools[0]["num_threads"]
        info["blas"] = info["blas"] or pools[0].get("internal_api")
except Exception:
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*.so*"))
    libs += glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*"))
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads"):
            fn = getattr(handle, name, None)
            if fn is not None:
                info["blasThreads"] = int(fn())
                break
cases = []
for s in shapes:
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (s["M"], s["K"])).astype(np.float32)
    b = rng.uniform(-1, 1, (s["K"], s["N"])).astype(np.float32)
    (a @ b)
    runs = []
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if len(runs) >= 2 and (elapsed > 3 or len(runs) >= 200 or (len(runs) >= 5 and elapsed > 0.5)):
            break
        t0 = time.perf_counter()
        c = a @ b
        runs.append((time.perf_counter() - t0) * 1e3)
    assert c.dtype == np.float32
    med = sorted(runs)[len(runs) // 2] if len(runs) % 2 else sum(sorted(runs)[len(runs) // 2 - 1:len(runs) // 2 + 1]) / 2
    cases.append({**s, "medianMs": round(med, 3), "runs": len(runs), "minMs": round(min(runs), 3), "gflops": 2 * s["M"] * s["N"] * s["K"] / med / 1e6})
print(json.dumps({**info, "cases": cases}))
`;

function hasNumpy(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import numpy'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

/** `.venv/bin/python` of the repository when present, else python3 if it has numpy. */
export function findPython(repoRoot: string): string | null {
  for (const candidate of [join(repoRoot, '.venv', 'bin', 'python'), 'python3']) {
    if ((candidate === 'python3' || existsSync(candidate)) && hasNumpy(candidate)) return candidate;
  }
  return null;
}

export function runNumpyLine(repoRoot: string, shapes: MatmulShape[]): NumpyLine {
  if (!shapes.length) return { available: false, note: 'no matmul case selected', cases: [] };
  const python = findPython(repoRoot);
  if (!python) return { available: false, note: 'skipped: no Python with numpy (.venv/bin/python or python3); see tools/golden/README.md', cases: [] };
  // OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE may be set on this machine for other tools and slow OpenBLAS
  // down; the native line should be numpy as a user gets it.
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const plain = shapes.map(({ M, K, N }) => ({ M, K, N }));
  const r = spawnSync(python, ['-c', SCRIPT, JSON.stringify(plain)], { env, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    return { available: false, python, note: `numpy run failed (exit ${r.status ?? r.signal}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' ')}`, cases: [] };
  }
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<NumpyLine, 'available' | 'python'>;
  const cases = out.cases.map((c, i) => ({ ...c, label: shapes[i].label }));
  const envNote = ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS'].filter((k) => env[k]).map((k) => `${k}=${env[k]}`).join(', ');
  return {
    available: true, python, ...out, cases,
    note: `OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for this child${envNote ? `; ${envNote}` : ''}`,
  };
}
