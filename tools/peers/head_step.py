"""PyTorch peer of bench/head-step: one training step of the default AutoSAM head on the CPU.

Usage: .venv/bin/python tools/peers/head_step.py DIR ITERS THREADS
DIR holds, from the benchmark: state/<key>.npy (the head's state dict, the reference's key names),
x.npy (B, 256, 64, 64) float32, labels.npy (B, H, W) int32, config.json {num_classes, lr}.
Writes into DIR: grads/<key>.npy (the gradients of the first step, before any update),
result.json {loss, step_ms: [...], threads, torch}.

The step is the reference's (scripts/main_autosam_seg.py): logits -> CE + batch soft Dice on the
softmax (background excluded, smooth 1), backward, Adam over the parameters that train.
The head is tools/golden/heads.py's AutoSamHead (the reference's build).
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
from heads import AutoSamHead  # noqa: E402


def batch_soft_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SoftDiceLoss(batch_dice=True, do_bg=False, smooth=1, smooth_in_nom=1) on softmax(logits)."""
    p = F.softmax(logits, dim=1)[:, 1:]
    g = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2).to(p.dtype)[:, 1:]
    axes = (0, 2, 3)
    intersect = (p * g).sum(axes)
    r = 1 - (2 * intersect + 1) / ((p * p).sum(axes) + (g * g).sum(axes) + 1)
    return r[r > 0].mean()


def main():
    directory, iters, threads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    config = json.loads((directory / "config.json").read_text())
    head = AutoSamHead(config["num_classes"])
    state = {f.stem: torch.from_numpy(np.load(f)) for f in (directory / "state").glob("*.npy")}
    head.load_state_dict(state, strict=True)
    x = torch.from_numpy(np.load(directory / "x.npy"))
    labels = torch.from_numpy(np.load(directory / "labels.npy")).long()
    size = tuple(labels.shape[-2:])
    trainable = [(k, p) for k, p in head.named_parameters() if p.requires_grad]
    opt = torch.optim.Adam([p for _, p in trainable], lr=config["lr"])

    def step():
        logits, _ = head(x, size)
        loss = F.cross_entropy(logits, labels) + batch_soft_dice(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    loss = step()
    grads = directory / "grads"
    grads.mkdir(exist_ok=True)
    for k, p in trainable:
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        np.save(grads / f"{k}.npy", g.numpy().astype(np.float32), allow_pickle=False)
    first_loss = loss.item()
    opt.step()

    times = []
    for _ in range(iters):
        start = time.perf_counter()
        loss = step()
        opt.step()
        loss.item()
        times.append((time.perf_counter() - start) * 1000)
    (directory / "result.json").write_text(json.dumps({"loss": first_loss, "step_ms": times, "threads": threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
