"""Golden fixtures for SAM's ViT image encoder (segment-anything's ImageEncoderViT).

Writes into test/fixtures/golden/sam_encoder/:
  <case>/checkpoint.pth     torch.save of {"image_encoder.<key>": tensor} (the real zip format, full-SAM key names)
  <case>/input.npy          the seeded input image (1, 3, img, img)
  <case>/patch_embed.npy    patch embedding + absolute position embedding (1, H/16, W/16, C)
  <case>/block<i>.npy       the output of each transformer block (1, H/16, W/16, C)
  <case>/embedding.npy      the neck's output, the image embedding (1, out_chans, H/16, W/16)
  rel_pos/<name>.*.npy      get_rel_pos(q_size, k_size, table) cases, with and without interpolation
  manifest.json             configurations, files and shapes

Run from the repository root:  .venv/bin/python tools/golden/sam_encoder.py

Weights come from numpy (one generator per tensor, seeded from its name), so the fixtures do not
depend on torch's RNG; the relative-position tables are nonzero (segment-anything initialises them
to zero, which would leave that path untested).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
import zlib
from collections import OrderedDict
from functools import partial
from pathlib import Path

import numpy as np
import torch


def import_sam_modeling():
    """The modeling code needs only torch; a bare package object stands in for segment_anything's
    __init__, which imports the predictor (and torchvision)."""
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("segment-anything is not installed: .venv/bin/pip install -r tools/golden/requirements.txt")
    if "segment_anything" not in sys.modules:
        package = types.ModuleType("segment_anything")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["segment_anything"] = package
    from segment_anything.modeling import image_encoder

    return image_encoder


image_encoder = import_sam_modeling()

SEED = 20240612
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "sam_encoder"
SIZE_BUDGET_BYTES = 1024 * 1024

# The two configurations of the brief: windows that need padding (4x4 tokens -> 6x6, 6x6 -> 8x8)
# and one global block each.
CASES = {
    "tiny_a": dict(img_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, window_size=3, global_attn_indexes=[1], out_chans=16),
    "tiny_b": dict(img_size=96, patch_size=16, embed_dim=48, depth=3, num_heads=4, window_size=4, global_attn_indexes=[2], out_chans=16),
}

# get_rel_pos(q_size, k_size, table of length L): identity, linear interpolation up and down, and q != k.
REL_POS_CASES = {
    "same_7": (4, 4, 7),
    "interp_up_5_to_7": (4, 4, 5),
    "interp_down_15_to_11": (6, 6, 15),
    "q3_k5": (3, 5, 9),
    "q5_k3": (5, 3, 9),
    "q4_k6_interp": (4, 6, 7),
}


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def build_encoder(cfg: dict) -> torch.nn.Module:
    return image_encoder.ImageEncoderViT(
        img_size=cfg["img_size"], patch_size=cfg["patch_size"], in_chans=3, embed_dim=cfg["embed_dim"], depth=cfg["depth"],
        num_heads=cfg["num_heads"], mlp_ratio=4.0, out_chans=cfg["out_chans"], qkv_bias=True,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_abs_pos=True, use_rel_pos=True, rel_pos_zero_init=True,
        window_size=cfg["window_size"], global_attn_indexes=tuple(cfg["global_attn_indexes"]),
    )


def seeded_weights(model: torch.nn.Module, case: str) -> None:
    """Weights of a plausible scale: linear/conv ~ N(0, 1/fan_in), norms around 1, tables and
    position embedding N(0, 0.5^2)."""
    with torch.no_grad():
        for key, value in model.state_dict().items():
            rng = rng_for(f"{case}/{key}")
            shape = value.shape
            if key.endswith("weight") and value.dim() >= 2:
                fan_in = int(np.prod(shape[1:]))
                data = rng.standard_normal(shape) / np.sqrt(fan_in)
            elif ("norm" in key or key.startswith("neck.1") or key.startswith("neck.3")) and key.endswith("weight"):
                data = 1.0 + 0.1 * rng.standard_normal(shape)
            elif key.endswith("bias"):
                data = 0.1 * rng.standard_normal(shape)
            else:  # pos_embed, rel_pos_h, rel_pos_w
                data = 0.5 * rng.standard_normal(shape)
            value.copy_(torch.from_numpy(data.astype(np.float32)))


def save(path: Path, array: np.ndarray) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array.astype(np.float32)))
    return {"file": str(path.relative_to(OUT_DIR)), "shape": list(array.shape)}


def write_case(name: str, cfg: dict) -> dict:
    model = build_encoder(cfg).eval()
    seeded_weights(model, name)
    state = OrderedDict((f"image_encoder.{k}", v.clone()) for k, v in model.state_dict().items())
    folder = OUT_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "checkpoint.pth")

    image = rng_for(f"{name}/input").standard_normal((1, 3, cfg["img_size"], cfg["img_size"])).astype(np.float32)
    x = torch.from_numpy(image)
    outputs = {}
    with torch.no_grad():
        h = model.patch_embed(x) + model.pos_embed
        outputs["patch_embed"] = save(folder / "patch_embed.npy", h.numpy())
        for i, block in enumerate(model.blocks):
            h = block(h)
            outputs[f"block{i}"] = save(folder / f"block{i}.npy", h.numpy())
        embedding = model.neck(h.permute(0, 3, 1, 2))
        outputs["embedding"] = save(folder / "embedding.npy", embedding.numpy())
        # The whole forward must agree with the step-by-step one above.
        assert torch.equal(model(x), embedding)
    return {
        "config": cfg,
        "checkpoint": f"{name}/checkpoint.pth",
        "input": save(folder / "input.npy", image),
        "outputs": outputs,
        "max_abs_embedding": float(np.abs(embedding.numpy()).max()),
    }


def write_rel_pos() -> dict:
    cases = {}
    for name, (q, k, length) in REL_POS_CASES.items():
        table = (0.5 * rng_for(f"rel_pos/{name}").standard_normal((length, 3))).astype(np.float32)
        out = image_encoder.get_rel_pos(q, k, torch.from_numpy(table)).numpy()
        cases[name] = {
            "q_size": q, "k_size": k,
            "table": save(OUT_DIR / "rel_pos" / f"{name}.table.npy", table),
            "out": save(OUT_DIR / "rel_pos" / f"{name}.out.npy", out),
        }
    return cases


def main() -> None:
    torch.set_num_threads(1)  # deterministic reductions
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    manifest = {
        "generator": "tools/golden/sam_encoder.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "cases": {name: write_case(name, cfg) for name, cfg in CASES.items()},
        "rel_pos": write_rel_pos(),
    }
    (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT_DIR.rglob("*") if p.is_file())
    if total > SIZE_BUDGET_BYTES:
        raise SystemExit(f"fixtures are {total} bytes, over the {SIZE_BUDGET_BYTES}-byte budget")
    print(f"wrote {OUT_DIR} ({total} bytes)")


if __name__ == "__main__":
    main()
