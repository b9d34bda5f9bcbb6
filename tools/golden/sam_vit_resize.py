"""Golden fixtures for running SAM's ViT encoder at a smaller input than its checkpoint was made for.

The recipe is the one segment-anything-derived works apply when they load a 1024 checkpoint into an
ImageEncoderViT built with another img_size (SAM-Med2D, segment_anything/build_sam.py,
interpolate_state_dict; SAMed, segment_anything/build_sam.py, load_from):
  - pos_embed (1, G, G, C), seen as (1, C, G, G), by F.interpolate to (g, g), mode 'bilinear',
    align_corners=False (no antialias);
  - rel_pos_h / rel_pos_w of the global-attention blocks, (2G-1, head_dim) seen as (1, 1, 2G-1, head_dim),
    by F.interpolate to (2g-1, head_dim), mode 'bilinear', align_corners=False; the head_dim axis keeps
    its size, so this is linear interpolation along the table;
  - the windowed blocks' tables (2 * window - 1 rows) are kept: the window does not change.
Blocks are picked by their index from the config, as SAM-Med2D does.

Writes into test/fixtures/golden/sam_vit_resize/:
  checkpoint.pth               torch.save of {"image_encoder.<key>": tensor} for the LARGE img_size
  <case>.input.npy             seeded input (1, 3, small, small) for a forward case
  <case>.pos_embed.npy         the resized pos_embed (1, g, g, C)
  <case>.blocks.<i>.rel_pos_{h,w}.npy   the resized global tables (2g-1, head_dim)
  <case>.embedding.npy         segment-anything's ImageEncoderViT(img_size=small) forward, with the
                               resized state dict loaded strictly
  grid64.*.npy, grid64_to_<g>.*.npy   transform-only cases at SAM's real grids (64 -> 32, 64 -> 40), few channels
  manifest.json

Run from the repository root:  .venv/bin/python tools/golden/sam_vit_resize.py
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures import seeded_rng, write_fixtures  # noqa: E402
from sam_encoder import build_encoder, seeded_weights  # noqa: E402  (segment-anything's ImageEncoderViT, seeded weights)

SEED = 20250301
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "sam_vit_resize"
BUDGET = 400 * 1024

# The checkpoint's configuration: 8 x 8 tokens, windows of 3 (8 pads to 9), block 1 global.
LARGE = dict(img_size=128, patch_size=16, embed_dim=16, depth=3, num_heads=2, window_size=3, global_attn_indexes=[1], out_chans=8)
# Smaller inputs it runs at: 5 x 5 tokens (windows pad 5 -> 6, a non-integer ratio 8 -> 5) and 4 x 4 (pads 4 -> 6, ratio 2).
SMALL_SIZES = [80, 64]
# Transform-only cases at the grids of real SAM (1024 -> 512 and 1024 -> 640), with 3 channels and head_dim 8.
REAL_GRID, REAL_TARGETS = 64, [32, 40]


def resize_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    nchw = pos_embed.permute(0, 3, 1, 2)  # (1, C, G, G)
    return F.interpolate(nchw, (grid, grid), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)  # (1, g, g, C)


def resize_rel_pos(table: torch.Tensor, grid: int) -> torch.Tensor:
    length, head_dim = table.shape
    return F.interpolate(table[None, None], (2 * grid - 1, head_dim), mode="bilinear", align_corners=False)[0, 0]


def resize_state_dict(state: dict, cfg: dict, img_size: int) -> OrderedDict:
    grid = img_size // cfg["patch_size"]
    out = OrderedDict(state)
    out["pos_embed"] = resize_pos_embed(state["pos_embed"], grid)
    for i in cfg["global_attn_indexes"]:
        for axis in ("h", "w"):
            key = f"blocks.{i}.attn.rel_pos_{axis}"
            out[key] = resize_rel_pos(state[key], grid)
    return out


def f32(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy().astype(np.float32))


def main() -> None:
    torch.set_num_threads(1)
    arrays: dict[str, np.ndarray] = {}
    cases: list[dict] = []

    model = build_encoder(LARGE).eval()
    seeded_weights(model, "sam_vit_resize")
    state = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())

    for size in SMALL_SIZES:
        name = f"img{size}"
        resized = resize_state_dict(state, LARGE, size)
        small_cfg = {**LARGE, "img_size": size}
        small = build_encoder(small_cfg).eval()
        small.load_state_dict(resized, strict=True)  # every shape must fit the small model
        image = seeded_rng(SEED, f"{name}/input").standard_normal((1, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            embedding = small(torch.from_numpy(image))
        files = {"input": f"{name}.input.npy", "pos_embed": f"{name}.pos_embed.npy", "embedding": f"{name}.embedding.npy"}
        arrays[files["input"]] = image
        arrays[files["pos_embed"]] = f32(resized["pos_embed"])
        arrays[files["embedding"]] = f32(embedding)
        for i in LARGE["global_attn_indexes"]:
            for axis in ("h", "w"):
                key = f"blocks.{i}.attn.rel_pos_{axis}"
                files[key] = f"{name}.{key}.npy"
                arrays[files[key]] = f32(resized[key])
        cases.append({"name": name, "kind": "forward", "img_size": size, "files": files,
                      "max_abs_embedding": float(np.abs(arrays[files["embedding"]]).max())})

    rng = seeded_rng(SEED, "grid64")
    pos = torch.from_numpy((0.5 * rng.standard_normal((1, REAL_GRID, REAL_GRID, 3))).astype(np.float32))
    table = torch.from_numpy((0.5 * rng.standard_normal((2 * REAL_GRID - 1, 8))).astype(np.float32))
    arrays["grid64.pos_embed.npy"] = f32(pos)
    arrays["grid64.rel_pos.npy"] = f32(table)
    for grid in REAL_TARGETS:
        name = f"grid64_to_{grid}"
        files = {"pos_embed": "grid64.pos_embed.npy", "pos_embed_out": f"{name}.pos_embed.npy",
                 "rel_pos": "grid64.rel_pos.npy", "rel_pos_out": f"{name}.rel_pos.npy"}
        arrays[files["pos_embed_out"]] = f32(resize_pos_embed(pos, grid))
        arrays[files["rel_pos_out"]] = f32(resize_rel_pos(table, grid))
        cases.append({"name": name, "kind": "transform", "grid_from": REAL_GRID, "grid_to": grid, "files": files})

    header = {"generator": "tools/golden/sam_vit_resize.py", "torch": torch.__version__, "numpy": np.__version__, "seed": SEED,
              "config": LARGE, "checkpoint": "checkpoint.pth"}
    total = write_fixtures(OUT_DIR, header, cases, arrays, BUDGET)
    # After write_fixtures, which clears the folder.
    torch.save(OrderedDict((f"image_encoder.{k}", v) for k, v in state.items()), OUT_DIR / "checkpoint.pth")
    total += (OUT_DIR / "checkpoint.pth").stat().st_size
    assert total < BUDGET, f"fixtures take {total} bytes, over the {BUDGET} budget"
    print(f"checkpoint.pth included: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
