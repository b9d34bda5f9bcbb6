"""What every golden generator shares: seeded inputs drawn with numpy, the fan-in rule for weights,
and the fixture writer (one .npy per tensor plus a manifest with one case per line)."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
from torch import nn


def seeded_rng(seed: int, name: str) -> np.random.Generator:
    # crc32 is stable across Python runs (hash() is salted per process).
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def uniform(rng: np.random.Generator, shape, low=-1.0, high=1.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float32)


def fan_ins(module: nn.Module) -> dict[str, float]:
    """Effective fan-in of each weight, by state_dict key: the number of products summed per output."""
    out = {}
    for prefix, m in module.named_modules():
        key = f"{prefix}.weight" if prefix else "weight"
        if isinstance(m, nn.Linear):
            out[key] = m.in_features
        elif isinstance(m, nn.Conv2d):
            out[key] = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            # each output pixel sees kernel/stride taps per input channel
            out[key] = m.in_channels * m.kernel_size[0] * m.kernel_size[1] / (m.stride[0] * m.stride[1])
        elif isinstance(m, nn.Embedding):
            out[key] = 1.0  # token embeddings: unit scale, like their N(0, 1) init
    return out


def write_fixtures(out_dir: Path, header: dict, cases: list[dict], arrays: dict[str, np.ndarray], budget: int) -> int:
    """Rewrites out_dir: every array as .npy, then manifest.json (header fields, then the cases one per
    line, so a diff shows which cases changed). Returns the bytes written; refuses to exceed `budget`."""
    if out_dir.exists():
        shutil.rmtree(out_dir)  # stale files from renamed cases must not linger
    out_dir.mkdir(parents=True)
    total = 0
    for file, array in arrays.items():
        np.save(out_dir / file, array, allow_pickle=False)
        total += (out_dir / file).stat().st_size
    head = json.dumps(header)[:-1]
    lines = [f"  {json.dumps(case)}" for case in cases]
    (out_dir / "manifest.json").write_text(head + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n")
    json.loads((out_dir / "manifest.json").read_text())  # the hand-joined text must still be JSON
    total += (out_dir / "manifest.json").stat().st_size
    assert total < budget, f"fixtures take {total} bytes, over the {budget} budget"
    print(f"{len(cases)} cases, {len(arrays)} arrays, {total / 1024:.0f} KiB in {out_dir}")
    return total
