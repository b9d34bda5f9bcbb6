"""Golden fixtures for the three prompt-free heads: forward, every gradient, and one Adam step.

Writes one .npy per tensor plus manifest.json into test/fixtures/golden/heads/.
Run from the repository root:  .venv/bin/python tools/golden/heads.py

The heads are built as the AutoSAM reference builds them (xhu248/AutoSAM):
- AutoSAM: its prompt-free MaskDecoder (models/sam_decoder.py, predict_masks_1) on
  segment-anything's TwoWayTransformer, MLP and LayerNorm2d, with a PositionEmbeddingRandom pe_layer
  beside it (models/AutoSamSeg.py); the masks are viewed as (B, C, H, W) and resized to the label
  size as scripts/main_autosam_seg.py does; parameters with "iou" in their name are frozen, as there.
- CNN and linear: SegDecoderCNN / SegDecoderLinear (models/SamFeatSeg.py) under a `mask_decoder`.
The classes below are written from that description (the reference code is not vendored); their
state_dict keys are the reference's. Parameters, inputs and the upstream gradient come from numpy
(one generator per case, seeded from the case name). torch computes L = sum(upstream * out), its
gradients, then one torch.optim.Adam(lr=5e-4) step over the trainable parameters.

tools/peers/head_step.py imports the model classes from here.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from fixtures import fan_ins, seeded_rng, uniform, write_fixtures


def import_sam_modeling():
    """segment_anything/__init__.py imports the predictor (torchvision); the modeling code needs only
    torch, so a bare package object stands in for the top level (as modules.py does)."""
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("segment-anything is not installed: .venv/bin/pip install -r tools/golden/requirements.txt")
    if "segment_anything" not in sys.modules:
        package = types.ModuleType("segment_anything")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["segment_anything"] = package
    from segment_anything.modeling.common import LayerNorm2d
    from segment_anything.modeling.mask_decoder import MLP
    from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom
    from segment_anything.modeling.transformer import TwoWayTransformer

    return LayerNorm2d, MLP, PositionEmbeddingRandom, TwoWayTransformer


LayerNorm2d, SamMLP, PositionEmbeddingRandom, TwoWayTransformer = import_sam_modeling()


# ---------------------------------------------------------------- the heads, as the reference builds them


class PromptFreeMaskDecoder(nn.Module):
    """The reference's MaskDecoder: per class one IoU token and num_multimask_outputs + 1 mask tokens;
    the transformer runs once per (image, class); masks from the first mask token."""

    def __init__(self, *, transformer_dim, transformer, num_multimask_outputs, iou_head_depth, iou_head_hidden_dim, num_classes):
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_classes = num_classes
        self.iou_token = nn.Embedding(num_classes, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(num_classes * self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            [SamMLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)]
        )
        self.iou_prediction_head = SamMLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(self, image_embeddings, image_pe):
        """image_embeddings (B, 1, D, h, w), image_pe (1, D, h, w) -> masks (B*C, 1, 4h, 4w), iou (B*C, 1)."""
        d = self.transformer_dim
        mask_tokens = self.mask_tokens.weight.view(-1, self.num_mask_tokens, d)
        output_tokens = torch.cat([self.iou_token.weight.unsqueeze(1), mask_tokens], dim=1)  # (C, T, D)
        tokens = output_tokens.repeat(image_embeddings.size(0), 1, 1)  # (B*C, T, D)
        src = image_embeddings.expand(-1, output_tokens.shape[0], -1, -1, -1).flatten(0, 1)  # (B*C, D, h, w)
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : (1 + self.num_mask_tokens), :]
        src = src.transpose(1, 2).reshape(b, c, h, w)
        upscaled = self.output_upscaling(src)
        hyper_in = torch.stack([self.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :]) for i in range(self.num_mask_tokens)], dim=1)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks[:, 0:1], iou_pred[:, 0:1]  # multimask_output=False


class AutoSamHead(nn.Module):
    """AutoSamSeg without image_encoder: mask_decoder + pe_layer; forward takes the embedding."""

    def __init__(self, num_classes, dim=256, depth=2, mlp_dim=2048, num_heads=8, downsample=2, iou_hidden=256):
        super().__init__()
        self.mask_decoder = PromptFreeMaskDecoder(
            num_multimask_outputs=1,
            transformer=TwoWayTransformer(depth=depth, embedding_dim=dim, mlp_dim=mlp_dim, num_heads=num_heads, attention_downsample_rate=downsample),
            transformer_dim=dim,
            iou_head_depth=3,
            iou_head_hidden_dim=iou_hidden,
            num_classes=num_classes,
        )
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        for name, p in self.named_parameters():
            if "iou" in name:  # scripts/main_autosam_seg.py freezes these
                p.requires_grad_(False)

    def forward(self, embedding, output_size=None):
        b, _, h, w = embedding.shape
        img_pe = self.pe_layer([h, w]).unsqueeze(0)
        mask, iou_pred = self.mask_decoder(image_embeddings=embedding.unsqueeze(1), image_pe=img_pe)
        if output_size is not None and tuple(mask.shape[-2:]) != tuple(output_size):
            mask = F.interpolate(mask, output_size, mode="bilinear", align_corners=False)
        return mask.view(b, -1, *mask.shape[-2:]), iou_pred.view(b, -1)


class SegDecoderCNN(nn.Module):
    def __init__(self, num_classes, embed_dim=256, num_depth=4, top_channel=64):
        super().__init__()
        wide = top_channel * 2**num_depth
        self.input_block = nn.Sequential(nn.Conv2d(embed_dim, wide, 1), nn.ReLU(), nn.Conv2d(wide, wide, 1), nn.ReLU())
        self.blocks = nn.ModuleList()
        for i in range(num_depth):
            c = top_channel * 2 ** (num_depth - i)
            if num_depth > 2 > i:
                block = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c // 2, 3, padding=1), nn.ReLU())
            else:
                block = nn.Sequential(
                    nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(c, c // 2, 2, stride=2)
                )
            self.blocks.append(block)
        self.final = nn.Sequential(nn.Conv2d(top_channel, top_channel, 3, padding=1), nn.Conv2d(top_channel, num_classes, 1))

    def forward(self, x):
        x = self.input_block(x)
        for blk in self.blocks:
            x = blk(x)
        return self.final(x)


class SegDecoderLinear(nn.Module):
    def __init__(self, num_classes, emb_dim=256, final_relu=False):
        super().__init__()
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(emb_dim, emb_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(emb_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(emb_dim // 4, emb_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        layers = [nn.Conv2d(emb_dim // 8, emb_dim // 8, 1), nn.ReLU(), nn.Conv2d(emb_dim // 8, num_classes, 1)]
        if final_relu:  # the reference has it; the design leaves it out
            layers.append(nn.ReLU())
        self.final = nn.Sequential(*layers)

    def forward(self, x):
        return self.final(self.output_upscaling(x))


class FeatSegHead(nn.Module):
    """SamFeatSeg without image_encoder."""

    def __init__(self, decoder):
        super().__init__()
        self.mask_decoder = decoder

    def forward(self, embedding, output_size=None):
        out = self.mask_decoder(embedding)
        if output_size is not None and tuple(out.shape[-2:]) != tuple(output_size):
            out = F.interpolate(out, output_size, mode="bilinear", align_corners=False)
        return out


def parameter_counts(module: nn.Module) -> dict:
    params = list(module.named_parameters())
    return {
        "total": sum(p.numel() for _, p in params),
        "trainable": sum(p.numel() for _, p in params if p.requires_grad),
        "buffers": sum(b.numel() for _, b in module.named_buffers()),
    }


# ---------------------------------------------------------------- fixture writing

SEED = 8642
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "heads"
SIZE_BUDGET_BYTES = 3 * 1024 * 1024
LR = 5e-4

cases: list[dict] = []
arrays: dict[str, np.ndarray] = {}


def rng_for(name: str) -> np.random.Generator:
    return seeded_rng(SEED, name)


def draw_state(module: nn.Module, rng) -> dict[str, np.ndarray]:
    """Every state_dict entry from numpy: weights U(+-sqrt(3 / fan_in)) (unit-variance layers), norm
    weights U(0.5, 1.5), biases U(-0.5, 0.5), the PE's gaussian matrix U(-2, 2)."""
    fans = fan_ins(module)
    values = {}
    for key, tensor in module.state_dict().items():
        shape = tuple(tensor.shape)
        if key.endswith("positional_encoding_gaussian_matrix"):
            value = uniform(rng, shape, -2.0, 2.0)
        elif key.endswith("bias"):
            value = uniform(rng, shape, -0.5, 0.5)
        elif len(shape) == 1:
            value = uniform(rng, shape, 0.5, 1.5)
        else:
            bound = math.sqrt(3.0 / fans[key])
            value = uniform(rng, shape, -bound, bound)
        values[key] = value
    module.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()}, strict=True)
    return values


def add_case(name: str, kind: str, config: dict, module: nn.Module, x: np.ndarray, output_size, rng):
    assert all(c["name"] != name for c in cases), name
    state = draw_state(module, rng)
    leaf = torch.from_numpy(x.copy()).requires_grad_(True)
    result = module(leaf, output_size)
    out, iou = result if isinstance(result, tuple) else (result, None)
    upstream = uniform(rng, tuple(out.shape))
    out.backward(torch.from_numpy(upstream))
    trainable = [(k, p) for k, p in module.named_parameters() if p.requires_grad]
    grads = {k: (p.grad.numpy().copy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)) for k, p in trainable}
    opt = torch.optim.Adam([p for _, p in trainable], lr=LR)
    opt.step()

    def save(role: str, key: str, value: np.ndarray) -> str:
        value = np.ascontiguousarray(value, dtype=np.float32)
        file = f"{name}.{role}.{key}.npy"
        assert file not in arrays, file
        arrays[file] = value
        return file

    outputs = {"out": save("output", "out", out.detach().numpy())}
    if iou is not None:
        outputs["iou_pred"] = save("output", "iou_pred", iou.detach().numpy())
    cases.append(
        {
            "name": name,
            "kind": kind,
            "config": config,
            "output_size": list(output_size) if output_size else None,
            "state": {k: save("state", k, v) for k, v in state.items()},
            "trainable": [k for k, _ in trainable],
            "frozen": [k for k, p in module.named_parameters() if not p.requires_grad],
            "inputs": {"x": save("input", "x", x)},
            "upstream": save("upstream", "out", upstream),
            "outputs": outputs,
            "param_grads": {k: save("grad", k, g) for k, g in grads.items()},
            "input_grads": {"x": save("input_grad", "x", leaf.grad.numpy())},
            "params_after_adam": {k: save("adam", k, p.detach().numpy()) for k, p in trainable},
        }
    )


def autosam_small():
    name = "autosam_small"
    rng = rng_for(name)
    config = {"num_classes": 3, "dim": 32, "depth": 2, "mlp_dim": 64, "num_heads": 2, "downsample": 2, "iou_hidden": 24}
    module = AutoSamHead(**config)
    x = uniform(rng, (2, 32, 16, 16))
    add_case(name, "autosam", config, module, x, (48, 48), rng)  # 64x64 masks resized to the label size


def cnn_small():
    name = "cnn_small"
    rng = rng_for(name)
    config = {"num_classes": 3, "embed_dim": 32, "num_depth": 4, "top_channel": 4}
    module = FeatSegHead(SegDecoderCNN(**config))
    add_case(name, "cnn", config, module, uniform(rng, (2, 32, 8, 8)), None, rng)


def linear_small():
    for name, final_relu, size in [("linear_small", False, (28, 28)), ("linear_small_final_relu", True, None)]:
        rng = rng_for(name)
        config = {"num_classes": 3, "emb_dim": 32, "final_relu": final_relu}
        module = FeatSegHead(SegDecoderLinear(**config))
        add_case(name, "linear", config, module, uniform(rng, (2, 32, 8, 8)), size, rng)


DEFAULT_NUM_CLASSES = 4  # ACDC: background, RV, MYO, LV


def default_heads() -> dict[str, nn.Module]:
    """The reference's default builds."""
    return {
        "autosam": AutoSamHead(DEFAULT_NUM_CLASSES),
        "cnn": FeatSegHead(SegDecoderCNN(DEFAULT_NUM_CLASSES, num_depth=4)),
        "linear": FeatSegHead(SegDecoderLinear(DEFAULT_NUM_CLASSES)),
    }


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    defaults = default_heads()
    for make in [autosam_small, cnn_small, linear_small]:
        make()
    manifest = {
        "generator": "tools/golden/heads.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "loss": "sum(upstream * out)",
        "optimizer": {"name": "Adam", "lr": LR, "betas": [0.9, 0.999], "eps": 1e-8},
        "default_num_classes": DEFAULT_NUM_CLASSES,
        "default_parameter_counts": {kind: parameter_counts(m) for kind, m in defaults.items()},
        # key -> shape of each default head's state_dict, and which parameters train
        "default_state_dicts": {kind: {k: list(v.shape) for k, v in m.state_dict().items()} for kind, m in defaults.items()},
        "default_trainable": {kind: [k for k, p in m.named_parameters() if p.requires_grad] for kind, m in defaults.items()},
    }
    write_fixtures(OUT_DIR, manifest, cases, arrays, SIZE_BUDGET_BYTES)
    print(json.dumps(manifest["default_parameter_counts"]))


if __name__ == "__main__":
    main()
