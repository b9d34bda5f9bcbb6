"""Golden fixtures for composite modules: forward output and every gradient, from PyTorch autograd.

Writes one .npy per tensor plus manifest.json into test/fixtures/golden/modules/.
Run from the repository root:  .venv/bin/python tools/golden/modules.py

For each case the parameters, the inputs and an upstream gradient are drawn with numpy (one
generator per case, seeded from the case name) and copied into the torch module, so nothing
depends on torch's RNG. torch then computes the output and, by autograd, the gradients of
L = sum(upstream * output) with respect to every parameter and every input.

Parameter keys are the module's state_dict keys, so a test loads them with Module.loadStateDict.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn
from fixtures import fan_ins, seeded_rng, uniform, write_fixtures


def import_sam_modeling():
    """segment_anything/__init__.py imports the predictor, which needs torchvision; the modeling
    code needs only torch. A bare package object stands in for the top level so that
    segment_anything.modeling imports without running the package's __init__."""
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("segment-anything is not installed: .venv/bin/pip install -r tools/golden/requirements.txt")
    if "segment_anything" not in sys.modules:
        package = types.ModuleType("segment_anything")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["segment_anything"] = package
    from segment_anything.modeling.common import LayerNorm2d
    from segment_anything.modeling.transformer import Attention

    return Attention, LayerNorm2d


SamAttention, SamLayerNorm2d = import_sam_modeling()

SEED = 4321
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "modules"
SIZE_BUDGET_BYTES = int(1.5 * 1024 * 1024)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)  # same reduction order on every machine that regenerates

cases: list[dict] = []
arrays: dict[str, np.ndarray] = {}


def rng_for(name: str) -> np.random.Generator:
    return seeded_rng(SEED, name)


def draw_parameters(module: nn.Module, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fills every state_dict entry from numpy and returns the values by key.

    Matrix and kernel weights: U(-a, a) with a = sqrt(3 / fan_in), unit-variance outputs for
    unit-variance inputs, so every layer of a stack works in the same O(1) range. Norm weights
    U(0.5, 1.5) and biases U(-0.5, 0.5): far from the init values 1 and 0, so a loader that
    skipped a key, or a kernel that ignored the affine part, would show.
    """
    fans = fan_ins(module)
    values = {}
    for key, tensor in module.state_dict().items():
        shape = tuple(tensor.shape)
        if key.endswith("bias"):
            value = uniform(rng, shape, -0.5, 0.5)
        elif len(shape) == 1:
            value = uniform(rng, shape, 0.5, 1.5)
        else:
            bound = math.sqrt(3.0 / fans[key])
            value = uniform(rng, shape, -bound, bound)
        values[key] = value
    module.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()}, strict=True)
    return values


def add_case(name: str, description: str, config: dict, module: nn.Module, inputs: dict[str, np.ndarray], forward, rng):
    """Runs forward and backward in torch and records every tensor.

    forward(module, tensors) -> output, where tensors maps input names to leaf tensors (one leaf
    may feed several arguments, as in self-attention: its gradient is then the sum over them).
    """
    assert all(c["name"] != name for c in cases), f"duplicate case name {name}"
    params = draw_parameters(module, rng)
    leaves = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in inputs.items()}
    out = forward(module, leaves)
    upstream = uniform(rng, tuple(out.shape))
    out.backward(torch.from_numpy(upstream))  # L = sum(upstream * out)

    def save(role: str, key: str, value: np.ndarray) -> str:
        assert value.dtype == np.float32, (name, role, key, value.dtype)
        file = f"{name}.{role}.{key}.npy"
        assert file not in arrays, file
        arrays[file] = np.ascontiguousarray(value)
        return file

    grads = dict(module.named_parameters())
    cases.append(
        {
            "name": name,
            "module": description,
            "config": config,
            "params": {k: save("param", k, v) for k, v in params.items()},
            "inputs": {k: save("input", k, v) for k, v in inputs.items()},
            "upstream": save("upstream", "out", upstream),
            "outputs": {"out": save("output", "out", out.detach().numpy())},
            "param_grads": {k: save("grad", k, p.grad.numpy()) for k, p in grads.items()},
            "input_grads": {k: save("input_grad", k, t.grad.numpy()) for k, t in leaves.items()},
        }
    )


# ---------------------------------------------------------------- the composites


def linear_gelu():
    name = "linear_gelu"
    rng = rng_for(name)
    module = nn.Sequential(nn.Linear(33, 20), nn.GELU())  # exact erf GELU
    x = uniform(rng, (2, 7, 33))
    add_case(name, "nn.Sequential(nn.Linear(33, 20), nn.GELU())", {"in": 33, "out": 20}, module, {"x": x}, lambda m, t: m(t["x"]), rng)


def layer_norms():
    name = "layernorm"
    rng = rng_for(name)
    module = nn.LayerNorm(48, eps=1e-5)
    # an offset mean checks that the variance is taken about the mean, not about zero
    x = uniform(rng, (3, 5, 48), -3.0, 5.0)
    add_case(name, "nn.LayerNorm(48, eps=1e-5)", {"dim": 48, "eps": 1e-5}, module, {"x": x}, lambda m, t: m(t["x"]), rng)

    name = "layernorm2d"
    rng = rng_for(name)
    module = SamLayerNorm2d(6)  # eps 1e-6
    x = uniform(rng, (2, 6, 5, 7), -3.0, 5.0)
    add_case(name, "segment_anything LayerNorm2d(6)", {"channels": 6, "eps": 1e-6}, module, {"x": x}, lambda m, t: m(t["x"]), rng)


def attentions():
    for name, downsample_rate in [("attention_ds2", 2), ("attention_ds1", 1)]:
        rng = rng_for(name)
        module = SamAttention(embedding_dim=32, num_heads=4, downsample_rate=downsample_rate)
        inputs = {"q": uniform(rng, (2, 5, 32)), "k": uniform(rng, (2, 9, 32)), "v": uniform(rng, (2, 9, 32))}
        config = {"embedding_dim": 32, "num_heads": 4, "downsample_rate": downsample_rate}
        add_case(name, f"segment_anything Attention(32, 4, downsample_rate={downsample_rate})", config, module, inputs, lambda m, t: m(t["q"], t["k"], t["v"]), rng)

    # Self-attention: one tensor is q, k and v, so its gradient is the sum of three paths.
    name = "attention_self"
    rng = rng_for(name)
    module = SamAttention(embedding_dim=32, num_heads=4, downsample_rate=2)
    config = {"embedding_dim": 32, "num_heads": 4, "downsample_rate": 2}
    add_case(name, "segment_anything Attention(32, 4, 2) with q = k = v", config, module, {"x": uniform(rng, (2, 6, 32))}, lambda m, t: m(t["x"], t["x"], t["x"]), rng)


def conv_stack():
    name = "conv_stack"
    rng = rng_for(name)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 0
        nn.ReLU(),  # 1
        nn.ConvTranspose2d(8, 4, 2, stride=2),  # 2
        SamLayerNorm2d(4),  # 3
        nn.GELU(),  # 4
        nn.Conv2d(4, 3, 1),  # 5
    )
    x = uniform(rng, (2, 3, 6, 7))
    description = "Sequential(Conv2d(3,8,3,p1), ReLU, ConvTranspose2d(8,4,2,s2), LayerNorm2d(4), GELU, Conv2d(4,3,1))"
    add_case(name, description, {}, module, {"x": x}, lambda m, t: m(t["x"]), rng)


def head_chain():
    name = "head_chain"
    rng = rng_for(name)
    module = nn.Sequential(nn.Linear(16, 12), nn.LayerNorm(12), nn.Softmax(dim=-1))
    x = uniform(rng, (2, 6, 16))
    add_case(name, "nn.Sequential(nn.Linear(16, 12), nn.LayerNorm(12), nn.Softmax(-1))", {}, module, {"x": x}, lambda m, t: m(t["x"]), rng)


def main():
    for make in [linear_gelu, layer_norms, attentions, conv_stack, head_chain]:
        make()

    header = {"generator": "tools/golden/modules.py", "torch": torch.__version__, "numpy": np.__version__, "seed": SEED, "loss": "sum(upstream * out)"}
    write_fixtures(OUT_DIR, header, cases, arrays, SIZE_BUDGET_BYTES)


if __name__ == "__main__":
    main()
