"""PyTorch peer of the vit_b benchmark (bench/sam-encoder): segment-anything's vit_b image encoder
with seeded random weights, its reference embedding of a seeded 1024x1024 input, and its CPU
inference time.

Usage (from the repository root):  .venv/bin/python tools/peers/sam_vit_b.py [CACHE_DIR] [ITERS] [THREADS]

Writes into CACHE_DIR (default bench/cache, git-ignored), each only when missing:
  sam_vit_b_random.pth         torch.save of {"image_encoder.<key>": tensor} (full-SAM key names)
  sam_vit_b_input.npy          the input (1, 3, 1024, 1024), standard normal (a preprocessed image's scale)
  sam_vit_b_embedding.npy      the image embedding (1, 256, 64, 64)
and prints one JSON line on stdout: {torch, threads, iters, forward_ms: [...], max_abs_embedding, ...}.
Weights come from numpy (one generator per tensor, seeded from its name): linear and conv weights
N(0, 0.02^2), biases N(0, 0.01^2), norm weights 1 + N(0, 0.02^2), pos_embed N(0, 0.02^2) and the
relative-position tables N(0, 0.1^2) (nonzero: segment-anything initialises them to zero).
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from collections import OrderedDict
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from sam_encoder import image_encoder  # noqa: E402  (segment-anything's modeling code without its predictor)

SEED = 20261128
VIT_B = dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))


def log(line: str) -> None:
    print(f"[sam_vit_b.py] {line}", file=sys.stderr, flush=True)


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def build_vit_b() -> torch.nn.Module:
    return image_encoder.ImageEncoderViT(
        img_size=1024, patch_size=16, in_chans=3, embed_dim=VIT_B["embed_dim"], depth=VIT_B["depth"], num_heads=VIT_B["num_heads"],
        mlp_ratio=4.0, out_chans=256, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_abs_pos=True,
        use_rel_pos=True, rel_pos_zero_init=True, window_size=14, global_attn_indexes=VIT_B["global_attn_indexes"],
    ).eval()


def seeded_weights(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for key, value in model.state_dict().items():
            rng = rng_for(key)
            shape = value.shape
            if key.endswith("weight") and value.dim() >= 2:
                data = 0.02 * rng.standard_normal(shape, dtype=np.float32)
            elif key.endswith("weight"):  # LayerNorm / LayerNorm2d
                data = 1.0 + 0.02 * rng.standard_normal(shape, dtype=np.float32)
            elif key.endswith("bias"):
                data = 0.01 * rng.standard_normal(shape, dtype=np.float32)
            elif "rel_pos" in key:
                data = 0.1 * rng.standard_normal(shape, dtype=np.float32)
            else:  # pos_embed
                data = 0.02 * rng.standard_normal(shape, dtype=np.float32)
            value.copy_(torch.from_numpy(np.asarray(data, dtype=np.float32)))


def main() -> None:
    cache = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/cache")
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    cache.mkdir(parents=True, exist_ok=True)
    pth, input_path, embedding_path = cache / "sam_vit_b_random.pth", cache / "sam_vit_b_input.npy", cache / "sam_vit_b_embedding.npy"

    model = build_vit_b()
    if pth.exists():
        state = torch.load(pth, map_location="cpu", weights_only=True)
        model.load_state_dict(OrderedDict((k[len("image_encoder."):], v) for k, v in state.items()))
        log(f"loaded {pth}")
    else:
        t0 = time.perf_counter()
        seeded_weights(model)
        torch.save(OrderedDict((f"image_encoder.{k}", v.clone()) for k, v in model.state_dict().items()), pth)
        log(f"wrote {pth} ({pth.stat().st_size / 1e6:.0f} MB, {time.perf_counter() - t0:.1f} s)")
        embedding_path.unlink(missing_ok=True)  # new weights: the old embedding is stale
    if input_path.exists():
        image = np.load(input_path)
    else:
        image = rng_for("input").standard_normal((1, 3, 1024, 1024), dtype=np.float32)
        np.save(input_path, image)
        embedding_path.unlink(missing_ok=True)
    x = torch.from_numpy(image)

    times, embedding = [], None
    with torch.no_grad():
        for i in range(max(1, iters)):
            t0 = time.perf_counter()
            y = model(x)
            times.append((time.perf_counter() - t0) * 1000)
            log(f"forward {i + 1}/{iters}: {times[-1]:.0f} ms")
            if embedding is None:
                embedding = y.numpy().astype(np.float32)
    np.save(embedding_path, embedding)
    params = sum(p.numel() for p in model.state_dict().values())
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "iters": len(times), "forward_ms": [round(t, 1) for t in times],
        "parameters": params, "weight_bytes": params * 4, "max_abs_embedding": float(np.abs(embedding).max()),
        "checkpoint": str(pth), "input": str(input_path), "embedding": str(embedding_path),
    }))


if __name__ == "__main__":
    main()
