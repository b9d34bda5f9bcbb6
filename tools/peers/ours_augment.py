"""Our augmentation (src/data/augment.ts, REFERENCE_AUGMENTATION) and SAM preprocessing
(src/models/mobilesam/preprocess.ts) in numpy, for tools/peers/reference_protocol.py.

A line-by-line port, random stream included: src/data/random.ts's generator (FNV-1a string hash,
splitmix32 seeding, mulberry32 steps, Box-Muller normals with a spare) is reproduced exactly, so the
same seed string gives the same view as augmentSlice in TypeScript (reference_protocol.py --check
compares them on views our side exported). mulberry32's state advances by a constant, so a run of
n draws is computed at once from the start state. Arithmetic is float64 with float32 stores where the
TypeScript stores into a Float32Array; some values still differ in the last float32 bit (the
Gaussian smoothing's running sums are summed in another order), which the check bounds.
"""

from __future__ import annotations

import math

import numpy as np

M32 = 0xFFFFFFFF

# REFERENCE_AUGMENTATION (src/data/augment.ts): the AutoSAM reference's batchgenerators values.
BRIGHTNESS = dict(p=0.5, mu=1.0, sigma=1.0)
GAMMA = dict(p=0.5, lo=0.5, hi=2.0)
NOISE = dict(p=0.5, lo=0.0, hi=0.1)
MIRROR = dict(p=0.5, columns=True, rows=False)
ELASTIC = dict(p=1.0, alpha=(100.0, 350.0), sigma=(40.0, 60.0), reference_size=224)
ROTATION = dict(p=0.5, lo=-0.1, hi=0.1)
SCALE = dict(p=0.5, lo=0.5, hi=1.9)

SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


def _imul(a: int, b: int) -> int:
    return (a * b) & M32


def _hash_string(text: str) -> int:
    h = 0x811C9DC5
    for ch in text:
        h = _imul(h ^ ord(ch), 0x01000193)
    return h


def _splitmix32(seed: int) -> int:
    z = (seed + 0x9E3779B9) & M32
    z = _imul(z ^ (z >> 16), 0x85EBCA6B)
    z = _imul(z ^ (z >> 13), 0xC2B2AE35)
    return (z ^ (z >> 16)) & M32


class Rng:
    """createRng(seed) of src/data/random.ts: next(), uniform(), normal() give the same numbers."""

    def __init__(self, seed: str | int):
        self.state = _splitmix32(_hash_string(seed) if isinstance(seed, str) else int(seed) & M32)
        self.spare: float | None = None

    def next_n(self, n: int) -> np.ndarray:
        """The next n values of next(), as float64."""
        k = np.arange(1, n + 1, dtype=np.uint64)
        t = (np.uint64(self.state) + k * np.uint64(0x6D2B79F5)) & np.uint64(M32)
        self.state = (self.state + n * 0x6D2B79F5) & M32
        m = np.uint64(M32)
        t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & m
        t = t ^ ((t + (((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & m)) & m)
        return ((t ^ (t >> np.uint64(14))) & m).astype(np.float64) / 4294967296.0

    def next(self) -> float:
        return float(self.next_n(1)[0])

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.next()

    def normal_n(self, n: int) -> np.ndarray:
        out = np.empty(n, np.float64)
        start = 0
        if n > 0 and self.spare is not None:
            out[0] = self.spare
            self.spare = None
            start = 1
        rest = n - start
        if rest > 0:
            pairs = (rest + 1) // 2
            u = self.next_n(2 * pairs).reshape(pairs, 2)
            r = np.sqrt(-2.0 * np.log(1.0 - u[:, 0]))
            theta = 2.0 * math.pi * u[:, 1]
            both = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).reshape(-1)
            out[start:] = both[:rest]
            if rest % 2 == 1:
                self.spare = float(both[-1])
        return out

    def normal(self) -> float:
        return float(self.normal_n(1)[0])


def _apply_intensity(image: np.ndarray, rng: Rng) -> np.ndarray:
    if rng.next() < BRIGHTNESS["p"]:
        add = BRIGHTNESS["mu"] + BRIGHTNESS["sigma"] * rng.normal()
        image = (image.astype(np.float64) + add).astype(np.float32)
    if rng.next() < GAMMA["p"]:
        lo, hi = GAMMA["lo"], GAMMA["hi"]
        gamma = rng.uniform(lo, 1.0) if (rng.next() < 0.5 and lo < 1) else rng.uniform(max(lo, 1.0), hi)
        mn, mx = float(image.min()), float(image.max())
        rng_ = mx - mn
        image = ((((image.astype(np.float64) - mn) / (rng_ + 1e-7)) ** gamma) * rng_ + mn).astype(np.float32)
    if rng.next() < NOISE["p"]:
        std = rng.uniform(NOISE["lo"], NOISE["hi"])
        image = (image.astype(np.float64) + std * rng.normal_n(image.size).reshape(image.shape)).astype(np.float32)
    return image


def _box_blur_axis(field: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Moving average over 2r+1 values along axis, zeros outside (boxBlur), stored as float32."""
    x = np.moveaxis(field.astype(np.float64), axis, -1)
    length = x.shape[-1]
    c = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(x, axis=-1)], axis=-1)
    k = np.arange(length)
    hi = np.minimum(k + radius, length - 1) + 1
    lo = np.maximum(k - radius, 0)
    out = (c[..., hi] - c[..., lo]) * (1.0 / (2 * radius + 1))
    return np.moveaxis(out, -1, axis).astype(np.float32)


def _smooth_noise(h: int, w: int, sigma: float, alpha: float, rng: Rng) -> np.ndarray:
    field = (rng.next_n(h * w) * 2 - 1).astype(np.float32).reshape(h, w)
    radius = max(0, math.floor((math.sqrt(4 * sigma * sigma + 1) - 1) / 2 + 0.5))
    for _ in range(3):
        field = _box_blur_axis(field, radius, 1)  # rows
        field = _box_blur_axis(field, radius, 0)  # columns
    return (field.astype(np.float64) * alpha).astype(np.float32)


def _sampling_field(h: int, w: int, rng: Rng):
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = dx = None
    if rng.next() < ELASTIC["p"]:
        k = math.sqrt(h * w) / ELASTIC["reference_size"]
        alpha = rng.uniform(*ELASTIC["alpha"]) * k * k
        sigma = rng.uniform(*ELASTIC["sigma"]) * k
        dy = _smooth_noise(h, w, sigma, alpha, rng)
        dx = _smooth_noise(h, w, sigma, alpha, rng)
    angle = rng.uniform(ROTATION["lo"], ROTATION["hi"]) if rng.next() < ROTATION["p"] else 0.0
    scale = 1.0
    if rng.next() < SCALE["p"]:
        lo, hi = SCALE["lo"], SCALE["hi"]
        scale = rng.uniform(lo, 1.0) if (rng.next() < 0.5 and lo < 1) else rng.uniform(max(lo, 1.0), hi)
    if dy is None and angle == 0 and scale == 1:
        return None
    r, c = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    y = r - cy + (dy.astype(np.float64) if dy is not None else 0.0)
    x = c - cx + (dx.astype(np.float64) if dx is not None else 0.0)
    cos, sin = math.cos(angle), math.sin(angle)
    rows = ((y * cos + x * sin) * scale + cy).astype(np.float32)
    cols = ((-y * sin + x * cos) * scale + cx).astype(np.float32)
    return rows, cols


def _warp_bilinear(src: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    h, w = src.shape
    y = np.clip(rows.astype(np.float64), 0, h - 1)
    x = np.clip(cols.astype(np.float64), 0, w - 1)
    y0 = np.floor(y).astype(np.int64)
    x0 = np.floor(x).astype(np.int64)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    wy, wx = y - y0, x - x0
    s = src.astype(np.float64)
    top = s[y0, x0] * (1 - wx) + s[y0, x1] * wx
    bottom = s[y1, x0] * (1 - wx) + s[y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def _warp_nearest(src: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    h, w = src.shape
    y = np.clip(np.floor(rows.astype(np.float64) + 0.5), 0, h - 1).astype(np.int64)  # Math.round
    x = np.clip(np.floor(cols.astype(np.float64) + 0.5), 0, w - 1).astype(np.int64)
    return src[y, x]


def augment_slice(image: np.ndarray, label: np.ndarray, seed: str) -> tuple[np.ndarray, np.ndarray]:
    """augmentSlice(slice, seed) with REFERENCE_AUGMENTATION: intensity, mirror, elastic + rotation + scale."""
    rng = Rng(seed)
    image = _apply_intensity(image.astype(np.float32).copy(), rng)
    flip_columns = MIRROR["columns"] and rng.next() < MIRROR["p"]
    flip_rows = MIRROR["rows"] and rng.next() < MIRROR["p"]
    label = label.copy()
    if flip_columns:
        image, label = image[:, ::-1], label[:, ::-1]
    if flip_rows:
        image, label = image[::-1, :], label[::-1, :]
    field = _sampling_field(image.shape[0], image.shape[1], rng)
    if field is None:
        return np.ascontiguousarray(image), np.ascontiguousarray(label)
    return _warp_bilinear(image, *field), _warp_nearest(label, *field)


def _resize_bilinear(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """src/data/resize.ts resizeBilinear (align_corners=False, clamped), float32 out."""
    h, w = src.shape
    fx = np.clip((np.arange(out_w) + 0.5) * (w / out_w) - 0.5, 0, w - 1)
    x0 = np.floor(fx).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    wx = (fx - x0).astype(np.float32).astype(np.float64)  # stored in a Float32Array there
    fy = np.clip((np.arange(out_h) + 0.5) * (h / out_h) - 0.5, 0, h - 1)
    y0 = np.floor(fy).astype(np.int64)
    y1 = np.minimum(y0 + 1, h - 1)
    wy = (fy - y0)[:, None]
    s = src.astype(np.float64)
    top = s[y0][:, x0] * (1 - wx) + s[y0][:, x1] * wx
    bottom = s[y1][:, x0] * (1 - wx) + s[y1][:, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def sam_preprocess(image: np.ndarray, size: int = 1024) -> np.ndarray:
    """preprocessGreySlice: min-max to 0..255, longest side to `size`, grey to RGB, mean/std, pad -> (3, size, size)."""
    h, w = image.shape
    lo, hi = float(image.min()), float(image.max())
    rng_ = hi - lo if hi > lo else 1.0
    scaled = ((image.astype(np.float64) - lo) / rng_ * 255).astype(np.float32)
    scale = size / max(h, w)
    rh, rw = math.floor(h * scale + 0.5), math.floor(w * scale + 0.5)
    resized = _resize_bilinear(scaled, rh, rw).astype(np.float64)
    out = np.zeros((3, size, size), np.float32)
    for c in range(3):
        out[c, :rh, :rw] = ((resized - SAM_PIXEL_MEAN[c]) / SAM_PIXEL_STD[c]).astype(np.float32)
    return out
