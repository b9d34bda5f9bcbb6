"""Golden fixtures for training: losses, optimizers, gradient clipping and LR schedules, from PyTorch.

Writes one .npy per tensor plus manifest.json into test/fixtures/golden/train/ (same format as
kernels.py; see README.md). LR schedules have no tensors: their expected sequences are float64
lists in each case's params (JSON keeps every digit).
Run from the repository root:  .venv/bin/python tools/golden/train.py

Cases by op:
- "loss": params {kind: "ce" | "dice" | "ce_dice", ignoreIndex, smooth, smoothNumerator, excludeBackground};
  inputs logits, target (int32), optional weight; outputs loss (shape [1]) and grad (dloss/dlogits).
- "optim": params {kind: "sgd" | "adam" | "adamw", hyperparameters in PyTorch's names, lrs (the lr set
  before each step), skip ([step, param] pairs whose grad is None at that step)}; inputs p0.. (initial
  parameters) and g0.. (the gradient of each step stacked: (steps, *shape)); outputs p0_after.. (the
  parameters after each step, stacked the same way).
- "clip": params {maxNorm}; inputs g0..; outputs norm (shape [1]) and g0_clipped.. after clip_grad_norm_.
- "schedule": params {kind, options, baseLr, metrics (plateau only), lrs (the lr after construction,
  then after each step: steps + 1 values)}.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fixtures import seeded_rng, write_fixtures

SEED = 4321
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden" / "train"
SIZE_BUDGET_BYTES = 1024 * 1024

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

cases: list[dict] = []
arrays: dict[str, np.ndarray] = {}


def rng_for(name: str) -> np.random.Generator:
    return seeded_rng(SEED, name)


def add_case(op: str, name: str, params: dict, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]):
    assert all(c["name"] != name for c in cases), f"duplicate case name {name}"

    def files(tensors: dict[str, np.ndarray]) -> dict[str, str]:
        names = {}
        for key, value in tensors.items():
            assert f"{name}.{key}.npy" not in arrays, f"{name}: input and output both named {key}"
            assert value.dtype in (np.float32, np.int32), (name, key, value.dtype)
            file = f"{name}.{key}.npy"
            arrays[file] = np.ascontiguousarray(value)
            names[key] = file
        return names

    cases.append({"op": op, "name": name, "params": params, "inputs": files(inputs), "outputs": files(outputs)})


def f32(t: torch.Tensor) -> np.ndarray:
    assert t.dtype == torch.float32, t.dtype
    return t.detach().numpy().copy()


# ---------------------------------------------------------------- losses

LOGITS_SHAPE = (2, 4, 5, 7)  # (B, C, H, W)
IGNORE = 255


def batch_soft_dice(logits, target, smooth, smooth_numerator, exclude_background, ignore_index):
    """The AutoSAM reference's SoftDiceLoss(batch_dice=True, do_bg=False) applied to softmax(logits),
    written out: per class over the whole batch, r_c = 1 - (2 I_c + smooth_numerator) /
    (sum p_c^2 + sum g_c^2 + smooth); the loss is the mean of the r_c that are > 0.
    Pixels whose target is ignore_index (our extension; the reference has none) are left out."""
    num_classes = logits.shape[1]
    p = F.softmax(logits, dim=1)
    valid = (target != ignore_index) & (target >= 0) & (target < num_classes)
    g = F.one_hot(torch.where(valid, target, 0).long(), num_classes).movedim(-1, 1).float()
    mask = valid.unsqueeze(1).float()
    p = p * mask
    g = g * mask
    axes = [0] + list(range(2, logits.dim()))
    intersect = (p * g).sum(axes)
    p_square = (p * p).sum(axes)
    g_square = (g * g).sum(axes)
    r = 1 - (2 * intersect + smooth_numerator) / (p_square + g_square + smooth)
    if exclude_background:
        r = r[1:]
    r = r[r > 0]
    return r.mean()


def loss_case(name, kind, logits_shape=LOGITS_SHAPE, weight=None, ignore_index=-100, ignore_fraction=0.0,
              smooth=1.0, smooth_numerator=None, exclude_background=True, absent_class=None, perfect_class=None):
    rng = rng_for(name)
    num_classes = logits_shape[1]
    target_shape = (logits_shape[0],) + tuple(logits_shape[2:])
    logits = rng.uniform(-3.0, 3.0, size=logits_shape).astype(np.float32)
    target = rng.integers(0, num_classes, size=target_shape).astype(np.int32)
    if absent_class is not None:
        target[target == absent_class] = 0
    if ignore_fraction > 0:
        target[rng.uniform(size=target_shape) < ignore_fraction] = ignore_index
    if perfect_class is not None:
        # softmax saturates to exactly 1 / 0 in f32 for this class: its r_c is exactly 0 and the
        # reference's result[result > 0] leaves it out of the mean
        logits[:, perfect_class] = np.where(target == perfect_class, 60.0, -60.0)
    smooth_numerator = smooth if smooth_numerator is None else smooth_numerator

    x = torch.from_numpy(logits).requires_grad_(True)
    tgt = torch.from_numpy(target).long()
    w = None if weight is None else torch.tensor(weight, dtype=torch.float32)
    loss = torch.zeros((), dtype=torch.float32)
    if kind in ("ce", "ce_dice"):
        loss = loss + F.cross_entropy(x, tgt, weight=w, ignore_index=ignore_index, reduction="mean")
    if kind in ("dice", "ce_dice"):
        loss = loss + batch_soft_dice(x, tgt, smooth, smooth_numerator, exclude_background, ignore_index)
    loss.backward()

    inputs = {"logits": logits, "target": target}
    if weight is not None:
        inputs["weight"] = np.array(weight, dtype=np.float32)
    params = {"kind": kind, "ignoreIndex": ignore_index, "smooth": smooth, "smoothNumerator": smooth_numerator,
              "excludeBackground": exclude_background}
    add_case("loss", name, params, inputs, {"loss": f32(loss.detach().reshape(1)), "grad": f32(x.grad)})


def loss_cases():
    weight = [0.2, 1.0, 2.5, 0.7]
    loss_case("ce", "ce")
    loss_case("ce_weight", "ce", weight=weight)
    loss_case("ce_ignore", "ce", ignore_index=IGNORE, ignore_fraction=0.2)
    loss_case("ce_weight_ignore", "ce", weight=weight, ignore_index=IGNORE, ignore_fraction=0.2)
    loss_case("ce_weight_ignore_class0", "ce", weight=weight, ignore_index=0)  # ignoreIndex inside [0, C)
    loss_case("ce_2d", "ce", logits_shape=(13, 4), weight=weight, ignore_index=IGNORE, ignore_fraction=0.2)
    loss_case("dice", "dice")
    loss_case("dice_with_background", "dice", exclude_background=False)
    loss_case("dice_smooth_1e-5", "dice", smooth=1e-5)
    loss_case("dice_absent_class", "dice", absent_class=3)
    loss_case("dice_ignore", "dice", ignore_index=IGNORE, ignore_fraction=0.2)
    loss_case("dice_perfect_class", "dice", perfect_class=2)
    loss_case("ce_dice", "ce_dice")
    loss_case("ce_dice_weight_ignore", "ce_dice", weight=weight, ignore_index=IGNORE, ignore_fraction=0.2)


# ---------------------------------------------------------------- optimizers

PARAM_SHAPES = [(4, 5), (7,), (3, 2, 2)]
STEPS = 10


def optim_case(name, kind, options, lrs=None, skip=()):
    rng = rng_for(name)
    initial = [rng.uniform(-1.0, 1.0, size=s).astype(np.float32) for s in PARAM_SHAPES]
    grads = [rng.normal(0.0, 1.0, size=(STEPS,) + s).astype(np.float32) for s in PARAM_SHAPES]
    params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in initial]
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = make(params, foreach=False, **options)  # the for-loop implementation: PyTorch's CPU default
    lrs = lrs or [options["lr"]] * STEPS
    history = [np.zeros((STEPS,) + s, dtype=np.float32) for s in PARAM_SHAPES]
    for step in range(STEPS):
        opt.param_groups[0]["lr"] = lrs[step]
        for i, p in enumerate(params):
            p.grad = None if [step, i] in [list(s) for s in skip] else torch.from_numpy(grads[i][step].copy())
        opt.step()
        for i, p in enumerate(params):
            history[i][step] = f32(p.data)
    inputs = {f"p{i}": p for i, p in enumerate(initial)} | {f"g{i}": g for i, g in enumerate(grads)}
    outputs = {f"p{i}_after": h for i, h in enumerate(history)}
    add_case("optim", name, {"kind": kind, **options, "lrs": lrs, "skip": [list(s) for s in skip]}, inputs, outputs)


def optim_cases():
    decaying = [0.01 * (1 - 0.05 * i) for i in range(STEPS)]
    optim_case("sgd", "sgd", {"lr": 0.1})
    optim_case("sgd_momentum", "sgd", {"lr": 0.1, "momentum": 0.9}, skip=[(3, 1)])
    optim_case("sgd_momentum_dampening_wd", "sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01})
    optim_case("sgd_nesterov", "sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.001})
    optim_case("adam", "adam", {"lr": 0.01}, skip=[(0, 2), (4, 1)])
    optim_case("adam_l2", "adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}, lrs=decaying)
    optim_case("adamw", "adamw", {"lr": 0.01, "weight_decay": 0.01}, skip=[(4, 1)])
    optim_case("adamw_decaying_lr", "adamw", {"lr": 0.01, "betas": (0.85, 0.995), "eps": 1e-7, "weight_decay": 0.1}, lrs=decaying)


def clip_case(name, max_norm):
    rng = rng_for(name)
    grads = [rng.normal(0.0, 1.0, size=s).astype(np.float32) for s in PARAM_SHAPES]
    params = [torch.nn.Parameter(torch.zeros(s)) for s in PARAM_SHAPES]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=False)
    inputs = {f"g{i}": g for i, g in enumerate(grads)}
    outputs = {"norm": f32(norm.reshape(1))} | {f"g{i}_clipped": f32(p.grad) for i, p in enumerate(params)}
    add_case("clip", name, {"maxNorm": max_norm}, inputs, outputs)


def clip_cases():
    clip_case("clip_active", 1.5)  # the norm of 39 N(0,1) values is about 6: scaled down
    clip_case("clip_inactive", 100.0)  # factor clamped to 1


# ---------------------------------------------------------------- LR schedules


def schedule_case(name, kind, options, steps, base_lr=0.1, metrics=None):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base_lr)
    make = {
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=options["tMax"], eta_min=options["etaMin"]),
        "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=options["stepSize"], gamma=options["gamma"]),
        "plateau": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode=options["mode"], factor=options["factor"], patience=options["patience"],
            threshold=options["threshold"], threshold_mode=options["thresholdMode"], cooldown=options["cooldown"],
            min_lr=options["minLr"], eps=options["eps"]),
    }[kind]
    scheduler = make()
    lrs = [opt.param_groups[0]["lr"]]
    for step in range(steps):
        opt.step()  # keeps PyTorch from warning about the call order
        if kind == "plateau":
            scheduler.step(metrics[step])
        else:
            scheduler.step()
        lrs.append(float(opt.param_groups[0]["lr"]))
    params = {"kind": kind, "options": options, "baseLr": base_lr, "lrs": lrs}
    if metrics is not None:
        params["metrics"] = metrics
    add_case("schedule", name, params, {}, {})


def plateau_metrics(rng, steps):
    # Improves, stalls (including improvements smaller than the 1e-4 relative threshold), improves again.
    values, v = [], 1.0
    for step in range(steps):
        phase = (step // 12) % 3
        if phase == 0:
            v *= 0.9
        elif phase == 1:
            v *= 1 - 5e-5 if step % 2 else 1.01
        else:
            v *= 1.0 + float(rng.uniform(-0.02, 0.02))
        values.append(float(np.float32(v)))
    return values


def schedule_cases():
    schedule_case("cosine", "cosine", {"tMax": 10, "etaMin": 0.0}, steps=35)  # past T_max: PyTorch's recursion climbs back
    schedule_case("cosine_eta_min", "cosine", {"tMax": 7, "etaMin": 1e-4}, steps=30, base_lr=5e-4)
    schedule_case("step", "step", {"stepSize": 3, "gamma": 0.5}, steps=20)
    schedule_case("step_gamma_0.1", "step", {"stepSize": 5, "gamma": 0.1}, steps=30, base_lr=5e-4)
    defaults = {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4, "thresholdMode": "rel",
                "cooldown": 0, "minLr": 0.0, "eps": 1e-8}
    schedule_case("plateau_defaults", "plateau", defaults, steps=80, base_lr=5e-4,
                  metrics=plateau_metrics(rng_for("plateau_defaults"), 80))
    busy = defaults | {"factor": 0.5, "patience": 2, "cooldown": 3, "minLr": 1e-3}
    schedule_case("plateau_cooldown_min_lr", "plateau", busy, steps=80, base_lr=0.1,
                  metrics=plateau_metrics(rng_for("plateau_cooldown_min_lr"), 80))
    max_abs = defaults | {"mode": "max", "thresholdMode": "abs", "threshold": 0.01, "patience": 3, "factor": 0.3}
    schedule_case("plateau_max_abs", "plateau", max_abs, steps=60, base_lr=0.1,
                  metrics=[-m for m in plateau_metrics(rng_for("plateau_max_abs"), 60)])


def main():
    for make in [loss_cases, optim_cases, clip_cases, schedule_cases]:
        make()

    header = {"generator": "tools/golden/train.py", "torch": torch.__version__, "numpy": np.__version__, "seed": SEED}
    write_fixtures(OUT_DIR, header, cases, arrays, SIZE_BUDGET_BYTES)
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["op"]] = counts.get(case["op"], 0) + 1
    for op, count in counts.items():
        print(f"  {op}: {count}")


if __name__ == "__main__":
    main()
