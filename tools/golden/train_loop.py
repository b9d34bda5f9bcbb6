"""Golden fixture for the training loop (src/train/trainer.ts): a small linear head trained full-batch
for a few epochs with CE + the reference's batch soft Dice, torch.optim.Adam and a cosine lr computed
per step, from numpy-seeded weights, inputs and labels. With the batch holding every sample, the
loss is independent of the sample order, so our seeded shuffle meets PyTorch's fixed order exactly.

Writes test/fixtures/golden/train_loop/ (manifest.json + .npy).
Run from the repository root:  .venv/bin/python tools/golden/train_loop.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fixtures import seeded_rng, uniform, write_fixtures
from heads import FeatSegHead, SegDecoderLinear, draw_state
from train import batch_soft_dice

SEED = 5150
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "train_loop"
EPOCHS = 6
LR = 1e-2
CONFIG = {"num_classes": 3, "emb_dim": 32, "final_relu": False}


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    rng = seeded_rng(SEED, "linear_full_batch")
    module = FeatSegHead(SegDecoderLinear(**CONFIG))
    state = draw_state(module, rng)
    x = uniform(rng, (3, 32, 4, 4))
    labels = rng.integers(0, CONFIG["num_classes"], size=(3, 16, 16)).astype(np.int32)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    losses = []
    for step in range(EPOCHS):
        for group in opt.param_groups:
            group["lr"] = LR * (1 + math.cos(math.pi * step / EPOCHS)) / 2
        opt.zero_grad()
        logits = module(torch.from_numpy(x))
        target = torch.from_numpy(labels).long()
        loss = F.cross_entropy(logits, target) + batch_soft_dice(logits, target, 1.0, 1.0, True, -100)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    arrays = {"x.npy": x, "labels.npy": labels}
    for k, v in state.items():
        arrays[f"state.{k}.npy"] = v
    for k, v in module.state_dict().items():
        arrays[f"final.{k}.npy"] = v.numpy().copy()
    header = {"generator": "tools/golden/train_loop.py", "torch": torch.__version__, "numpy": np.__version__, "seed": SEED,
              "config": CONFIG, "epochs": EPOCHS, "lr": LR, "schedule": "cosine", "losses": losses,
              "state": sorted(state), "final": sorted(module.state_dict())}
    write_fixtures(OUT_DIR, header, [], arrays, 256 * 1024)


if __name__ == "__main__":
    main()
