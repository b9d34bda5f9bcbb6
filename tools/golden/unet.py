"""Golden fixtures for the AutoSAM paper's UNet baseline: forward, loss, every gradient, one Adam step.

Writes one .npy per tensor plus manifest.json into test/fixtures/golden/unet/.
Run from the repository root:  .venv/bin/python tools/golden/unet.py

The model is built as the reference builds its baseline (xhu248/AutoSAM scripts/main_baseline.py,
--model_type unet): SupConUnet(in_channels=3, num_classes) from models/unet_con.py, i.e. `encoder`
= UNet (contract blocks Conv3x3 -> InstanceNorm2d -> LeakyReLU, MaxPool2d(2, 2), a center of
Conv/ReLU/Conv/ReLU/ConvTranspose/ReLU, expand blocks Conv3x3 -> LeakyReLU, upscale{i}
ConvTranspose2d(2, 2), skips concatenated after the upsampled tensor with a centre crop) and
`head` = Conv2d(initial_filter_size, num_classes, 1). The class below is written from that
description (the reference code is not vendored), with its depth made a parameter: at depth 4 it
has exactly the reference's module tree and state_dict keys. (Checked once, outside the repository,
against the reference's own SupConUnet/UNet classes at depth 4: the same keys in the same order and
bit-identical outputs on 32x32, 37x45 and 48x48 inputs.)

Cases: the model in train mode on a seeded batch, loss = F.cross_entropy + the reference's batch
soft Dice (train.py's batch_soft_dice, as scripts/main_baseline.py trains), backward, one
torch.optim.Adam(lr=5e-4) step; then the eval-mode forward (InstanceNorm2d keeps no running
statistics, so it must equal the train-mode one). Weights and inputs come from numpy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from fixtures import fan_ins, seeded_rng, uniform, write_fixtures
from train import batch_soft_dice


class UNet(nn.Module):
    """models/unet_con.py's UNet (no final layer), depth levels instead of the fixed four."""

    def __init__(self, in_channels=1, initial_filter_size=64, kernel_size=3, do_instancenorm=True, depth=4):
        super().__init__()
        self.depth = depth
        f = initial_filter_size
        width = lambda level: f * 2 ** (level - 1)  # noqa: E731
        for level in range(1, depth + 1):
            cin = in_channels if level == 1 else width(level - 1)
            setattr(self, f"contr_{level}_1", self.contract(cin, width(level), kernel_size, do_instancenorm))
            setattr(self, f"contr_{level}_2", self.contract(width(level), width(level), kernel_size, do_instancenorm))
            if level == 1:
                self.pool = nn.MaxPool2d(2, stride=2)
        mid = width(depth + 1)
        self.center = nn.Sequential(
            nn.Conv2d(width(depth), mid, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, width(depth), 2, stride=2),
            nn.ReLU(inplace=True),
        )
        for level in range(depth, 0, -1):
            setattr(self, f"expand_{level}_1", self.expand(width(level + 1), width(level)))
            setattr(self, f"expand_{level}_2", self.expand(width(level), width(level)))
            if level > 1:
                setattr(self, f"upscale{level}", nn.ConvTranspose2d(width(level), width(level - 1), kernel_size=2, stride=2))
        self.softmax = torch.nn.Softmax2d()

    @staticmethod
    def contract(in_channels, out_channels, kernel_size=3, instancenorm=True):
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, padding=1)]
        if instancenorm:
            layers.append(nn.InstanceNorm2d(out_channels))
        layers.append(nn.LeakyReLU(inplace=True))
        return nn.Sequential(*layers)

    @staticmethod
    def expand(in_channels, out_channels, kernel_size=3):
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=1), nn.LeakyReLU(inplace=True))

    @staticmethod
    def center_crop(layer, target_width, target_height):
        _, _, layer_width, layer_height = layer.size()
        xy1 = (layer_width - target_width) // 2
        xy2 = (layer_height - target_height) // 2
        return layer[:, :, xy1 : (xy1 + target_width), xy2 : (xy2 + target_height)]

    def forward(self, x):
        skips = []
        for level in range(1, self.depth + 1):
            x = getattr(self, f"contr_{level}_2")(getattr(self, f"contr_{level}_1")(x))
            skips.append(x)
            x = self.pool(x)
        up = self.center(x)
        for level in range(self.depth, 0, -1):
            crop = self.center_crop(skips[level - 1], up.size()[2], up.size()[3])
            expand = getattr(self, f"expand_{level}_2")(getattr(self, f"expand_{level}_1")(torch.cat([up, crop], 1)))
            up = getattr(self, f"upscale{level}")(expand) if level > 1 else expand
        return up


class SupConUnet(nn.Module):
    """models/unet_con.py's SupConUnet, mode "cls"."""

    def __init__(self, num_classes, in_channels=1, initial_filter_size=64, kernel_size=3, do_instancenorm=True, depth=4):
        super().__init__()
        self.encoder = UNet(in_channels, initial_filter_size, kernel_size, do_instancenorm, depth)
        self.head = nn.Conv2d(initial_filter_size, num_classes, kernel_size=1)

    def forward(self, x):
        return self.head(self.encoder(x))


SEED = 9753
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "unet"
SIZE_BUDGET_BYTES = 512 * 1024
LR = 5e-4
DEFAULT_NUM_CLASSES = 4  # ACDC: background, RV, MYO, LV

cases: list[dict] = []
arrays: dict[str, np.ndarray] = {}


def draw_state(module: nn.Module, rng) -> dict[str, np.ndarray]:
    """Weights U(+-sqrt(3 / fan_in)) (unit-variance layers, so activations stay O(1) through the
    net), biases U(-0.5, 0.5)."""
    fans = fan_ins(module)
    values = {}
    for key, tensor in module.state_dict().items():
        shape = tuple(tensor.shape)
        if key.endswith("bias"):
            values[key] = uniform(rng, shape, -0.5, 0.5)
        else:
            bound = math.sqrt(3.0 / fans[key])
            values[key] = uniform(rng, shape, -bound, bound)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()}, strict=True)
    return values


def add_case(name: str, config: dict, image_shape: tuple[int, ...]):
    assert all(c["name"] != name for c in cases), name
    rng = seeded_rng(SEED, name)
    model = SupConUnet(**config)
    state = draw_state(model, rng)
    image = uniform(rng, image_shape)
    model.train()
    x = torch.from_numpy(image.copy()).requires_grad_(True)
    logits = model(x)
    b, c, h, w = logits.shape
    labels = rng.integers(0, config["num_classes"], size=(b, h, w)).astype(np.int32)
    target = torch.from_numpy(labels).long()
    ce = F.cross_entropy(logits, target)
    dice = batch_soft_dice(logits, target, 1.0, 1.0, True, -100)
    loss = ce + dice
    loss.backward()
    trainable = list(model.named_parameters())
    grads = {k: p.grad.numpy().copy() for k, p in trainable}
    torch.optim.Adam(model.parameters(), lr=LR).step()
    model.eval()
    with torch.no_grad():
        eval_logits = model(torch.from_numpy(image.copy()))  # the weights after the Adam step

    def save(role: str, key: str, value: np.ndarray) -> str:
        file = f"{name}.{role}.{key}.npy"
        assert file not in arrays, file
        arrays[file] = np.ascontiguousarray(value)
        return file

    f32 = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    cases.append(
        {
            "name": name,
            "config": config,
            "state": {k: save("state", k, v) for k, v in state.items()},
            "image": save("input", "image", image),
            "labels": save("input", "labels", labels),
            "logits": save("output", "logits", f32(logits)),
            "ce": float(ce.detach()),
            "dice": float(dice.detach()),
            "loss": float(loss.detach()),
            "param_grads": {k: save("grad", k, g) for k, g in grads.items()},
            "image_grad": save("input_grad", "image", x.grad.numpy()),
            "params_after_adam": {k: save("adam", k, f32(p)) for k, p in trainable},
            "eval_logits_after_adam": save("output", "eval_logits", f32(eval_logits)),
        }
    )


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    tiny = {"num_classes": 4, "in_channels": 3, "initial_filter_size": 4, "do_instancenorm": True, "depth": 2}
    add_case("unet_tiny", tiny, (2, 3, 32, 32))
    # 30 x 26 is not a multiple of 2^depth: floor pooling, centre crops of the skips, smaller logits.
    add_case("unet_tiny_crop", tiny, (1, 3, 30, 26))
    default = SupConUnet(DEFAULT_NUM_CLASSES, in_channels=3)
    manifest = {
        "generator": "tools/golden/unet.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "loss": "F.cross_entropy + batch soft Dice (smooth 1, background excluded)",
        "optimizer": {"name": "Adam", "lr": LR, "betas": [0.9, 0.999], "eps": 1e-8},
        "default_num_classes": DEFAULT_NUM_CLASSES,
        "default_parameter_count": sum(p.numel() for p in default.parameters()),
        "default_state_dict": {k: list(v.shape) for k, v in default.state_dict().items()},
    }
    write_fixtures(OUT_DIR, manifest, cases, arrays, SIZE_BUDGET_BYTES)
    print(f"default SupConUnet parameters: {manifest['default_parameter_count']}")


if __name__ == "__main__":
    main()
