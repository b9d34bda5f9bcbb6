"""PyTorch peer of bench/train-step: the training step of src/train/trainer.ts on the CPU, for one
of the experiment's models (the AutoSAM, CNN or linear head on a cached embedding, or the UNet
baseline on the image itself).

Usage: .venv/bin/python tools/peers/train_step.py DIR ITERS THREADS BUDGET_S
DIR holds, from the benchmark: state/<key>.npy (the model's state dict, the reference's key names),
x.npy (B, 256, G, G) embeddings or (B, 1, S, S) images, float32; labels.npy (B, H, W) int32;
config.json {kind: autosam|cnn|linear|unet, num_classes, lr, base_channels (unet)}.
Writes DIR/result.json {loss, grad_norm (both of the first step, before any update),
step_ms: [...], threads, torch}. Timed steps stop after ITERS or once BUDGET_S seconds of timed
steps have run (at least one).

The step is trainer.ts's: forward, F.cross_entropy + batch soft Dice (tools/golden/train.py's
batch_soft_dice, the reference's SoftDiceLoss(batch_dice=True, do_bg=False, smooth 1)), backward,
the total gradient norm read back (clip_grad_norm_ at 1e30, which never scales), Adam.
The models are tools/golden/heads.py's and tools/golden/unet.py's classes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from heads import AutoSamHead, FeatSegHead, SegDecoderCNN, SegDecoderLinear  # noqa: E402
from train import batch_soft_dice  # noqa: E402
from unet import SupConUnet  # noqa: E402


def build(config: dict) -> tuple[torch.nn.Module, callable]:
    """The model and its forward(x, label_size) -> logits."""
    kind, c = config["kind"], config["num_classes"]
    if kind == "autosam":
        head = AutoSamHead(c)
        return head, lambda x, size: head(x, size)[0]
    if kind == "cnn":
        head = FeatSegHead(SegDecoderCNN(c, embed_dim=256))
        return head, lambda x, size: head(x, size)
    if kind == "linear":
        head = FeatSegHead(SegDecoderLinear(c, emb_dim=256))
        return head, lambda x, size: head(x, size)
    if kind == "unet":
        net = SupConUnet(c, in_channels=1, initial_filter_size=config["base_channels"])
        return net, lambda x, size: net(x)
    raise SystemExit(f"unknown model kind {kind!r}")


def main():
    directory, iters, threads, budget_s = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(threads)
    config = json.loads((directory / "config.json").read_text())
    model, forward = build(config)
    state = {f.stem: torch.from_numpy(np.load(f)) for f in (directory / "state").glob("*.npy")}
    model.load_state_dict(state, strict=True)
    model.train()
    x = torch.from_numpy(np.load(directory / "x.npy"))
    labels = torch.from_numpy(np.load(directory / "labels.npy")).long()
    size = tuple(labels.shape[-2:])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config["lr"])

    def step():
        logits = forward(x, size)
        loss = F.cross_entropy(logits, labels) + batch_soft_dice(logits, labels, 1.0, 1.0, True, -100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1e30)
        values = (loss.item(), norm.item())  # trainer.ts reads both back before the update
        opt.step()
        return values

    first_loss, first_norm = step()
    times = []
    spent = 0.0
    while len(times) < iters and (not times or spent < budget_s):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
        spent += times[-1] / 1000
    (directory / "result.json").write_text(
        json.dumps({"loss": first_loss, "grad_norm": first_norm, "step_ms": times, "threads": threads, "torch": torch.__version__})
    )


if __name__ == "__main__":
    main()
