"""Golden fixtures for src/eval: Dice and HD95 from medpy.metric.binary, the exact distance transform
from scipy.ndimage.distance_transform_edt. Writes test/fixtures/golden/metrics/.

Volumes are drawn as numpy arrays indexed [x, y, z] with spacing (sx, sy, sz), as nibabel hands them
out, and saved transposed to shape (Z, Y, X) in C order, so the flat .npy data is our layout
(index = x + X * (y + Y * z)) and the manifest's dims are [X, Y, Z].

Reference convention per class (ours, see src/eval/metrics.ts; medpy itself returns dc = 1 for two
empty masks and raises in hd95 when either is empty):
  both empty  -> dice null, hd95 null, "absent": true
  one empty   -> dice = medpy.dc (0), hd95 null, "hd95Infinite": true
  otherwise   -> dice = medpy.dc, hd95 = medpy.hd95(pred, truth, voxelspacing=spacing)
"""

from __future__ import annotations

import sys
from pathlib import Path

import medpy
import numpy as np
import scipy
from medpy.metric.binary import dc, hd95
from scipy.ndimage import distance_transform_edt, gaussian_filter

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import seeded_rng, write_fixtures  # noqa: E402

SEED = 2024
OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "metrics"


def blobs(rng: np.random.Generator, shape, num_classes: int, sigma: float, background: float) -> np.ndarray:
    """Smooth random fields, one per foreground class; a voxel takes the strongest field above `background`."""
    fields = np.stack([gaussian_filter(rng.standard_normal(shape), sigma) for _ in range(num_classes - 1)])
    fields /= fields.std()
    labels = fields.argmax(0) + 1
    labels[fields.max(0) < background] = 0
    return labels.astype(np.uint8)


def perturb(rng: np.random.Generator, truth: np.ndarray, num_classes: int, flip: float) -> np.ndarray:
    """A plausible prediction: the truth with a fraction of voxels relabelled by a smooth noise field."""
    noise = gaussian_filter(rng.standard_normal(truth.shape), 1.0)
    other = blobs(rng, truth.shape, num_classes, 1.5, 0.8)
    pred = truth.copy()
    swap = noise > np.quantile(noise, 1 - flip)
    pred[swap] = other[swap]
    return pred


def cases_of_volumes(rng_for) -> list[tuple[str, np.ndarray, np.ndarray, tuple[float, float, float], int]]:
    out = []

    rng = rng_for("blobs_aniso")
    truth = blobs(rng, (20, 24, 18), 4, 2.0, 0.6)
    out.append(("blobs_aniso", perturb(rng, truth, 4, 0.25), truth, (1.0, 1.5, 2.5), 4))

    rng = rng_for("blobs_iso_6class")
    truth = blobs(rng, (22, 19, 21), 6, 1.5, 0.5)
    out.append(("blobs_iso_6class", perturb(rng, truth, 6, 0.3), truth, (1.0, 1.0, 1.0), 6))

    # class 2 only in the truth (missed), class 3 only in the prediction (invented), class 4 nowhere
    rng = rng_for("empty_classes")
    truth = blobs(rng, (20, 24, 18), 3, 2.0, 0.7)
    pred = perturb(rng, truth, 3, 0.2)
    pred[pred == 2] = 1
    pred[:4, :5, :3] = 3
    out.append(("empty_classes", pred, truth, (0.8, 1.2, 3.0), 5))

    # one voxel each, in different places: HD95 is the distance between them
    truth = np.zeros((20, 24, 18), np.uint8)
    pred = np.zeros_like(truth)
    truth[3, 17, 5] = 1
    pred[11, 4, 13] = 1
    truth[6:15, 5:20, 4:14] = 2
    pred[10, 10, 10] = 2
    out.append(("single_voxels", pred, truth, (1.0, 1.5, 2.5), 3))

    # masks that fill the volume up to its edges: the edge voxels are surface (scipy's border_value = 0)
    rng = rng_for("touching_edges")
    truth = blobs(rng, (16, 14, 12), 3, 3.0, -0.5)
    out.append(("touching_edges", perturb(rng, truth, 3, 0.15), truth, (0.7, 1.3, 2.1), 3))

    rng = rng_for("identical")
    truth = blobs(rng, (20, 24, 18), 4, 2.0, 0.6)
    out.append(("identical", truth.copy(), truth, (1.0, 1.5, 2.5), 4))
    return out


def reference_metrics(pred: np.ndarray, truth: np.ndarray, spacing, num_classes: int) -> list[dict]:
    out = []
    for c in range(1, num_classes):
        p, t = pred == c, truth == c
        entry: dict = {"label": c, "predVoxels": int(p.sum()), "truthVoxels": int(t.sum())}
        if not p.any() and not t.any():
            entry.update(dice=None, hd95=None, absent=True)
        elif not p.any() or not t.any():
            entry.update(dice=float(dc(p, t)), hd95=None, hd95Infinite=True)
        else:
            entry.update(dice=float(dc(p, t)), hd95=float(hd95(p, t, voxelspacing=spacing)))
        out.append(entry)
    return out


def to_layout(volume: np.ndarray) -> np.ndarray:
    """[x, y, z] indexing -> (Z, Y, X) C order, whose flat data is index = x + X * (y + Y * z)."""
    return np.ascontiguousarray(volume.transpose(2, 1, 0))


def main() -> None:
    rng_for = lambda name: seeded_rng(SEED, name)  # noqa: E731
    cases, arrays = [], {}
    for name, pred, truth, spacing, num_classes in cases_of_volumes(rng_for):
        arrays[f"{name}.pred.npy"] = to_layout(pred)
        arrays[f"{name}.truth.npy"] = to_layout(truth)
        cases.append({
            "kind": "labels", "name": name, "dims": list(truth.shape), "spacing": list(spacing),
            "numClasses": num_classes, "pred": f"{name}.pred.npy", "truth": f"{name}.truth.npy",
            "classes": reference_metrics(pred, truth, spacing, num_classes),
        })

    # the distance transform alone: scipy measures to the nearest zero, so its input is ~feature
    for name, shape, spacing, density in [
        ("edt_dense", (17, 13, 11), (0.7, 1.3, 2.1), 0.3),
        ("edt_sparse", (23, 19, 15), (1.0, 1.5, 2.5), 0.004),
        ("edt_flat", (31, 27, 1), (0.9, 1.1, 4.0), 0.02),
    ]:
        rng = rng_for(name)
        feature = rng.random(shape) < density
        feature.flat[rng.integers(feature.size)] = True  # never featureless
        distance = distance_transform_edt(~feature, sampling=spacing)
        arrays[f"{name}.feature.npy"] = to_layout(feature.astype(np.uint8))
        arrays[f"{name}.distance.npy"] = to_layout(distance.astype(np.float64))
        cases.append({
            "kind": "edt", "name": name, "dims": list(shape), "spacing": list(spacing),
            "feature": f"{name}.feature.npy", "distance": f"{name}.distance.npy",
        })

    header = {
        "generator": "tools/golden/metrics.py", "medpy": medpy.__version__, "scipy": scipy.__version__,
        "numpy": np.__version__, "seed": SEED,
    }
    write_fixtures(OUT, header, cases, arrays, budget=1_000_000)


if __name__ == "__main__":
    main()
