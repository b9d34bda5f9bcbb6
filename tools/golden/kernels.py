"""Golden fixtures for the core kernels: small inputs drawn with numpy, outputs computed by PyTorch.

Writes one .npy per tensor plus manifest.json into test/fixtures/golden/kernels/.
Run from the repository root:  .venv/bin/python tools/golden/kernels.py

Inputs come from numpy (one generator per case, seeded from the case name), so the
fixtures do not depend on torch's RNG; only the outputs depend on torch's arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fixtures import seeded_rng, uniform, write_fixtures

SEED = 1234
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "kernels"
SIZE_BUDGET_BYTES = 3 * 1024 * 1024

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)  # same reduction order on every machine that regenerates

cases: list[dict] = []
arrays: dict[str, np.ndarray] = {}


def rng_for(name: str) -> np.random.Generator:
    return seeded_rng(SEED, name)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    if t.dtype == torch.int64:
        return t.numpy().astype(np.int32)
    assert t.dtype == torch.float32, t.dtype
    return t.numpy()


def add_case(op: str, name: str, params: dict, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]):
    assert all(c["name"] != name for c in cases), f"duplicate case name {name}"

    def files(tensors: dict[str, np.ndarray]) -> dict[str, str]:
        names = {}
        for key, value in tensors.items():
            assert value.dtype in (np.float32, np.int32), (name, key, value.dtype)
            file = f"{name}.{key}.npy"
            arrays[file] = np.ascontiguousarray(value)
            names[key] = file
        return names

    cases.append({"op": op, "name": name, "params": params, "inputs": files(inputs), "outputs": files(outputs)})


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


def dims(shape) -> str:
    return "x".join(str(d) for d in shape)


# ---------------------------------------------------------------- elementwise

UNARY = {
    "neg": torch.neg,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "rsqrt": torch.rsqrt,
    "abs": torch.abs,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": F.gelu,  # exact erf form (approximate="none")
}
POSITIVE_ONLY = {"log", "sqrt", "rsqrt"}
# Large magnitudes catch naive formulas that overflow (exp(-x) in sigmoid, e^2x in tanh).
LARGE_MAGNITUDES = {
    "exp": [-30.0, -20.0, 20.0, 30.0],
    "sigmoid": [-30.0, -20.0, 20.0, 30.0],
    "tanh": [-30.0, -15.0, 15.0, 30.0],
    "gelu": [-30.0, -10.0, 10.0, 30.0],
}


def unary_cases():
    shape = (3, 5, 7)
    for fn, torch_fn in UNARY.items():
        name = f"unary_{fn}"
        rng = rng_for(name)
        x = uniform(rng, shape, 0.01, 4.0) if fn in POSITIVE_ONLY else uniform(rng, shape, -4.0, 4.0)
        flat = x.reshape(-1)
        for i, value in enumerate(LARGE_MAGNITUDES.get(fn, [])):
            flat[7 * i + 3] = value
        add_case("unary", name, {"fn": fn}, {"x": x}, {"out": to_numpy(torch_fn(t(x)))})

    name = "unary_clamp"
    x = uniform(rng_for(name), shape, -4.0, 4.0)
    params = {"fn": "clamp", "min": -1.0, "max": 2.5}
    out = torch.clamp(t(x), params["min"], params["max"])
    add_case("unary", name, params, {"x": x}, {"out": to_numpy(out)})


BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow}
BROADCAST_PAIRS = [((2, 3, 4), (3, 1)), ((5, 1, 7), (1, 6, 1)), ((1,), (4, 4)), ((4, 4), (4, 4)), ((2, 1, 3), (2, 5, 1))]


def binary_cases():
    for fn, torch_fn in BINARY.items():
        for shape_a, shape_b in BROADCAST_PAIRS:
            name = f"binary_{fn}_{dims(shape_a)}_{dims(shape_b)}"
            rng = rng_for(name)
            if fn == "pow":
                a = uniform(rng, shape_a, 0.1, 3.0)  # positive base: no NaN from fractional exponents
                b = uniform(rng, shape_b, -2.0, 2.0)
            elif fn == "div":
                a = uniform(rng, shape_a, -4.0, 4.0)
                # keep divisors away from zero so the quotient stays well conditioned
                b = (uniform(rng, shape_b, 0.5, 2.0) * rng.choice([-1.0, 1.0], size=shape_b)).astype(np.float32)
            else:
                a = uniform(rng, shape_a, -4.0, 4.0)
                b = uniform(rng, shape_b, -4.0, 4.0)
            add_case("binary", name, {"fn": fn}, {"a": a, "b": b}, {"out": to_numpy(torch_fn(t(a), t(b)))})


# ---------------------------------------------------------------- reductions and normalisation

REDUCE_SHAPES = [((3, 17, 5), 1), ((4, 1000), -1), ((7, 3), 0), ((2, 3, 4, 5), 2)]


def reduce_cases():
    for fn in ["sum", "mean", "max", "argmax"]:
        for shape, axis in REDUCE_SHAPES:
            name = f"reduce_{fn}_{dims(shape)}_axis{axis}"
            x = uniform(rng_for(name), shape, -4.0, 4.0)  # continuous values: argmax ties have probability ~0
            xt = t(x)
            if fn == "sum":
                out = xt.sum(dim=axis)
            elif fn == "mean":
                out = xt.mean(dim=axis)
            elif fn == "max":
                out = xt.amax(dim=axis)
            else:
                out = xt.argmax(dim=axis)
            add_case("reduce", name, {"fn": fn, "axis": axis, "keepdim": False}, {"x": x}, {"out": to_numpy(out)})


def softmax_cases():
    for shape, scale in [((5, 33), 1.0), ((2, 3, 1000), 1.0), ((4, 77), 50.0)]:
        name = f"softmax_{dims(shape)}" + ("_scaled50" if scale != 1.0 else "")
        # scaled inputs reach |x| ~ 200: exp overflows unless the kernel subtracts the row max
        x = (uniform(rng_for(name), shape, -4.0, 4.0) * scale).astype(np.float32)
        add_case("softmax", name, {"axis": -1}, {"x": x}, {"out": to_numpy(torch.softmax(t(x), dim=-1))})


def layernorm_cases():
    for shape, eps in [((7, 33), 1e-5), ((2, 5, 768), 1e-6), ((4, 257), 1e-6)]:
        name = f"layernorm_{dims(shape)}"
        rng = rng_for(name)
        # an offset mean checks that the variance is taken about the mean, not about zero
        x = uniform(rng, shape, -3.0, 5.0)
        weight = uniform(rng, shape[-1:], 0.5, 1.5)
        bias = uniform(rng, shape[-1:], -0.5, 0.5)
        out = F.layer_norm(t(x), shape[-1:], t(weight), t(bias), eps)
        add_case("layernorm", name, {"eps": eps}, {"x": x, "weight": weight, "bias": bias}, {"out": to_numpy(out)})


def sam_layernorm2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """segment_anything.modeling.common.LayerNorm2d.forward, verbatim apart from the argument names."""
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return weight[:, None, None] * x + bias[:, None, None]


def layernorm2d_cases():
    eps = 1e-6
    for shape in [(2, 5, 7, 9), (1, 256, 8, 8), (1, 3, 1, 1)]:
        name = f"layernorm2d_{dims(shape)}"
        rng = rng_for(name)
        x = uniform(rng, shape, -3.0, 5.0)
        weight = uniform(rng, shape[1:2], 0.5, 1.5)
        bias = uniform(rng, shape[1:2], -0.5, 0.5)
        out = sam_layernorm2d(t(x), t(weight), t(bias), eps)
        add_case("layernorm2d", name, {"eps": eps}, {"x": x, "weight": weight, "bias": bias}, {"out": to_numpy(out)})


# ---------------------------------------------------------------- matmul

ACTIVATIONS = {"none": lambda y: y, "gelu": F.gelu, "relu": torch.relu}


def matmul_case(batch, M, N, K, transA=False, transB=False, activation="none", bias=False, residual=False, name=None):
    flags = "".join(
        [
            "_tA" if transA else "",
            "_tB" if transB else "",
            f"_{activation}" if activation != "none" else "",
            "_bias" if bias else "",
            "_res" if residual else "",
        ]
    )
    name = name or f"matmul_{batch}x{M}x{N}x{K}{flags}"
    rng = rng_for(name)
    # each operand scaled by K^-1/4 so a K-term dot product stays O(1) and tolerances mean the same at every K
    scale = K**-0.25
    a = uniform(rng, (batch, K, M) if transA else (batch, M, K), -scale, scale)
    b = uniform(rng, (batch, N, K) if transB else (batch, K, N), -scale, scale)
    inputs = {"a": a, "b": b}
    y = torch.matmul(t(a).transpose(1, 2) if transA else t(a), t(b).transpose(1, 2) if transB else t(b))
    if bias:
        inputs["bias"] = uniform(rng, (N,), -0.5, 0.5)
        y = y + t(inputs["bias"])
    y = ACTIVATIONS[activation](y)
    if residual:
        inputs["residual"] = uniform(rng, (batch, M, N), -1.0, 1.0)
        y = y + t(inputs["residual"])
    params = {
        "transA": transA,
        "transB": transB,
        "activation": activation,
        "bias": bias,
        "residual": residual,
        "batch": batch,
        "M": M,
        "N": N,
        "K": K,
    }
    add_case("matmul", name, params, inputs, {"out": to_numpy(y)})


def matmul_cases():
    matmul_case(1, 1, 1, 1)
    matmul_case(1, 17, 33, 9)
    matmul_case(3, 64, 48, 80)
    matmul_case(2, 65, 129, 67)
    matmul_case(1, 128, 128, 128)
    matmul_case(1, 100, 70, 300, activation="gelu", bias=True)
    matmul_case(2, 19, 23, 31, transA=True)
    matmul_case(1, 37, 41, 29, transB=True)
    matmul_case(3, 13, 27, 45, transA=True, transB=True)
    matmul_case(2, 33, 17, 65, activation="relu", bias=True, residual=True)
    matmul_case(1, 77, 96, 64, transB=True, activation="gelu", bias=True)  # nn.Linear + GELU, as in SAM's MLP
    matmul_case(2, 21, 35, 50, transA=True, transB=True, activation="gelu", bias=True, residual=True)
    # Every combination of the five flags once, on small odd sizes that differ per combination.
    index = 0
    for transA in (False, True):
        for transB in (False, True):
            for activation in ACTIVATIONS:
                for bias in (False, True):
                    for residual in (False, True):
                        M, N, K = 3 + (index * 5) % 17, 5 + (index * 7) % 19, 1 + (index * 3) % 23
                        batch = 1 + index % 2
                        name = f"matmul_combo{index:02d}_{batch}x{M}x{N}x{K}"
                        matmul_case(batch, M, N, K, transA, transB, activation, bias, residual, name=name)
                        index += 1


# ---------------------------------------------------------------- convolutions

def conv2d_case(name, x_shape, c_out, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True):
    name = f"conv2d_{name}"
    rng = rng_for(name)
    c_in = x_shape[1]
    fan_in = c_in // groups * kernel[0] * kernel[1]
    x = uniform(rng, x_shape, -1.0, 1.0)
    w = uniform(rng, (c_out, c_in // groups, *kernel), -1.0, 1.0) / np.float32(np.sqrt(fan_in))
    inputs = {"x": x, "w": w.astype(np.float32)}
    if bias:
        inputs["b"] = uniform(rng, (c_out,), -0.5, 0.5)
    out = F.conv2d(t(x), t(inputs["w"]), t(inputs["b"]) if bias else None, stride, padding, dilation, groups)
    params = {"stride": list(stride), "padding": list(padding), "dilation": list(dilation), "groups": groups, "bias": bias}
    add_case("conv2d", name, params, inputs, {"out": to_numpy(out)})


def conv2d_cases():
    conv2d_case("k3_s1_p1", (2, 4, 10, 9), 6, (3, 3), padding=(1, 1))
    conv2d_case("k3_s2_p0_odd", (1, 3, 9, 11), 5, (3, 3), stride=(2, 2))
    conv2d_case("k3_d2_p2", (1, 4, 12, 13), 5, (3, 3), padding=(2, 2), dilation=(2, 2))
    conv2d_case("s2_p1_g2", (1, 6, 11, 10), 8, (3, 3), stride=(2, 2), padding=(1, 1), groups=2)
    conv2d_case("depthwise_k3_s2_p1", (1, 8, 13, 12), 8, (3, 3), stride=(2, 2), padding=(1, 1), groups=8)
    conv2d_case("k1_nobias", (2, 16, 7, 5), 12, (1, 1), bias=False)
    conv2d_case("patch16", (1, 3, 64, 48), 8, (16, 16), stride=(16, 16))
    conv2d_case("k3_p1_16to24", (2, 16, 17, 19), 24, (3, 3), padding=(1, 1))
    conv2d_case("depthwise_k7_p3", (1, 8, 15, 14), 8, (7, 7), padding=(3, 3), groups=8)
    # height and width differ in kernel, stride and padding: catches swapped axes
    conv2d_case("k3x5_s1x2_p1x2", (1, 3, 8, 13), 4, (3, 5), stride=(1, 2), padding=(1, 2))


def conv_transpose2d_case(name, x_shape, c_out, kernel, stride, padding=(0, 0), output_padding=(0, 0), bias=True):
    name = f"conv_transpose2d_{name}"
    rng = rng_for(name)
    c_in = x_shape[1]
    x = uniform(rng, x_shape, -1.0, 1.0)
    w = (uniform(rng, (c_in, c_out, *kernel), -1.0, 1.0) / np.float32(np.sqrt(c_in))).astype(np.float32)
    inputs = {"x": x, "w": w}
    if bias:
        inputs["b"] = uniform(rng, (c_out,), -0.5, 0.5)
    out = F.conv_transpose2d(
        t(x), t(w), t(inputs["b"]) if bias else None, stride, padding, output_padding, groups=1, dilation=1
    )
    params = {
        "stride": list(stride),
        "padding": list(padding),
        "output_padding": list(output_padding),
        "dilation": [1, 1],
        "groups": 1,
        "bias": bias,
    }
    add_case("conv_transpose2d", name, params, inputs, {"out": to_numpy(out)})


def conv_transpose2d_cases():
    conv_transpose2d_case("k2_s2", (2, 8, 5, 7), 4, (2, 2), (2, 2))
    conv_transpose2d_case("k2_s2_nobias", (1, 16, 8, 8), 8, (2, 2), (2, 2), bias=False)
    conv_transpose2d_case("k3_s2_p1_op1", (1, 4, 6, 5), 3, (3, 3), (2, 2), (1, 1), (1, 1))
    conv_transpose2d_case("k4_s2_p1", (1, 5, 7, 6), 6, (4, 4), (2, 2), (1, 1))
    conv_transpose2d_case("k3_s1_p1", (2, 3, 9, 8), 4, (3, 3), (1, 1), (1, 1))


# ---------------------------------------------------------------- resampling and data movement

def resize_cases():
    specs = [
        ((1, 3, 7, 9), (13, 5), True),
        ((1, 3, 7, 9), (13, 5), False),
        ((2, 2, 16, 16), (64, 64), False),
        ((1, 1, 33, 33), (8, 8), True),
        ((1, 1, 33, 33), (8, 8), False),
        ((1, 2, 5, 5), (5, 5), False),
    ]
    for shape, (out_h, out_w), align_corners in specs:
        name = f"resize_{dims(shape)}_to_{out_h}x{out_w}_ac{int(align_corners)}"
        x = uniform(rng_for(name), shape, -2.0, 2.0)
        # size= (not scale_factor=) so the source coordinate scale is in/out, as the kernel computes it
        out = F.interpolate(t(x), size=(out_h, out_w), mode="bilinear", align_corners=align_corners, antialias=False)
        params = {"align_corners": align_corners, "outH": out_h, "outW": out_w}
        add_case("resize", name, params, {"x": x}, {"out": to_numpy(out)})


def permute_cases():
    for shape, perm in [((2, 3, 4, 5), [0, 2, 3, 1]), ((2, 3, 4, 5), [3, 1, 0, 2]), ((6, 7), [1, 0])]:
        name = f"permute_{dims(shape)}_{''.join(map(str, perm))}"
        x = uniform(rng_for(name), shape)
        add_case("permute", name, {"perm": perm}, {"x": x}, {"out": to_numpy(t(x).permute(*perm).contiguous())})


def slice_cases():
    for shape, starts, ends, steps in [((5, 8, 7), [1, 0, 2], [4, 8, 7], [1, 3, 2]), ((10,), [1], [9], [4])]:
        name = f"slice_{dims(shape)}"
        x = uniform(rng_for(name), shape)
        index = tuple(slice(s, e, k) for s, e, k in zip(starts, ends, steps))
        out = t(x)[index].contiguous()
        add_case("slice", name, {"starts": starts, "ends": ends, "steps": steps}, {"x": x}, {"out": to_numpy(out)})


def pad_cases():
    for shape, pads, value in [((2, 3, 4), [[0, 0], [1, 2], [3, 0]], 0.0), ((3, 5), [[2, 1], [0, 4]], -1.5)]:
        name = f"pad_{dims(shape)}"
        x = uniform(rng_for(name), shape)
        # params list pads first dim first; F.pad wants (last_before, last_after, prev_before, ...), last dim first.
        torch_pads = [amount for before_after in reversed(pads) for amount in before_after]
        out = F.pad(t(x), torch_pads, mode="constant", value=value)
        add_case("pad", name, {"pads": pads, "value": value}, {"x": x}, {"out": to_numpy(out)})


def concat_cases():
    for shapes, axis in [([(2, 3, 4), (2, 5, 4), (2, 1, 4)], 1), ([(3, 2), (3, 2)], 0), ([(2, 3), (2, 4)], -1)]:
        name = f"concat_{'_'.join(dims(s) for s in shapes)}_axis{axis}"
        rng = rng_for(name)
        inputs = {f"x{i}": uniform(rng, shape) for i, shape in enumerate(shapes)}
        out = torch.cat([t(x) for x in inputs.values()], dim=axis)
        add_case("concat", name, {"axis": axis}, inputs, {"out": to_numpy(out)})


def gather_cases():
    for vocab, dim, index_shape in [(10, 7, (13,)), (100, 32, (3, 4))]:
        name = f"gather_{vocab}x{dim}_{dims(index_shape)}"
        rng = rng_for(name)
        table = uniform(rng, (vocab, dim))
        indices = rng.integers(0, vocab, size=index_shape).astype(np.int32)
        indices.reshape(-1)[:2] = [0, vocab - 1]  # both ends of the table, always
        out = F.embedding(t(indices).long(), t(table))
        add_case("gather", name, {}, {"table": table, "indices": indices}, {"out": to_numpy(out)})


def main():
    for make in [
        unary_cases,
        binary_cases,
        reduce_cases,
        softmax_cases,
        layernorm_cases,
        layernorm2d_cases,
        matmul_cases,
        conv2d_cases,
        conv_transpose2d_cases,
        resize_cases,
        permute_cases,
        slice_cases,
        pad_cases,
        concat_cases,
        gather_cases,
    ]:
        make()

    header = {"generator": "tools/golden/kernels.py", "torch": torch.__version__, "numpy": np.__version__, "seed": SEED}
    write_fixtures(OUT_DIR, header, cases, arrays, SIZE_BUDGET_BYTES)
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["op"]] = counts.get(case["op"], 0) + 1
    for op, count in counts.items():
        print(f"  {op}: {count}")


if __name__ == "__main__":
    main()
