"""Small .npy files written by numpy itself, one per dtype the TypeScript reader supports.

Writes test/fixtures/npy/*.npy and expected.json (dtype, shape and values of each file, so the
test does not need numpy). Run from the repository root:  .venv/bin/python tools/golden/npy_samples.py
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "npy"


def json_number(value):
    # JSON has no inf/nan, and int64 beyond 2^53 does not survive a JS number: spell those as strings.
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value) if abs(int(value)) <= 2**53 else str(int(value))
    value = float(value)
    return value if math.isfinite(value) else str(value)


def main():
    samples: dict[str, tuple[np.ndarray, tuple[int, int] | None]] = {
        "f4.npy": ((np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 3.0), None),
        "f8.npy": (np.array([[1 / 3, -2.5e-300], [1e300, np.pi]], dtype=np.float64), None),
        # normals, the largest half, a subnormal, signed zero, infinities and NaN
        "f2.npy": (np.array([1.0, -2.0, 0.5, 65504.0, 2.0**-24, -0.0, np.inf, -np.inf, np.nan], dtype=np.float16), None),
        "i4.npy": (np.array([[0, 1, -1], [2**31 - 1, -(2**31), 42]], dtype=np.int32), None),
        "i8.npy": (np.array([0, -5, 2**31 - 1, -(2**31)], dtype=np.int64), None),
        "i8_big.npy": (np.array([1, 2**40, -(2**62) - 7], dtype=np.int64), None),
        "u1.npy": (np.array([[0, 1, 127], [128, 200, 255]], dtype=np.uint8), None),
        "b1.npy": (np.array([True, False, False, True, True], dtype=np.bool_), None),
        "i2.npy": (np.array([-32768, -1, 0, 1, 32767], dtype=np.int16), None),
        "u2.npy": (np.array([0, 1, 40000, 65535], dtype=np.uint16), None),
        "i1.npy": (np.array([-128, -1, 0, 127], dtype=np.int8), None),
        "scalar_f4.npy": (np.array(2.75, dtype=np.float32), None),  # 0-d: shape ()
        "empty_f4.npy": (np.zeros((0, 3), dtype=np.float32), None),
        "v2_f4.npy": (np.array([1.5, -2.25, 3.0], dtype=np.float32), (2, 0)),
        "v3_f4.npy": (np.array([[7.0], [8.0]], dtype=np.float32), (3, 0)),
    }

    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    expected = {}
    for file, (array, version) in samples.items():
        if version is None:
            np.save(OUT_DIR / file, array, allow_pickle=False)
        else:
            with open(OUT_DIR / file, "wb") as f:
                npy_format.write_array(f, array, version=version, allow_pickle=False)
        with open(OUT_DIR / file, "rb") as f:
            assert f.read(8)[6:8] == bytes(version or (1, 0)), file
        entry = {
            "descr": array.dtype.str,
            "shape": list(array.shape),
            "values": [json_number(v) for v in array.reshape(-1).tolist()],
        }
        if array.dtype == np.float16:
            entry["bits"] = array.view(np.uint16).reshape(-1).tolist()
        expected[file] = entry
    # one file per line: short, and diffs show which sample changed
    lines = [f" {json.dumps(file)}: {json.dumps(entry)}" for file, entry in expected.items()]
    header = f'{{"generator": "tools/golden/npy_samples.py", "numpy": {json.dumps(np.__version__)}, "files": {{\n'
    (OUT_DIR / "expected.json").write_text(header + ",\n".join(lines) + "\n}}\n")
    print(f"{len(samples)} files in {OUT_DIR}")


if __name__ == "__main__":
    main()
