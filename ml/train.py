"""Train the spheroid U-Net on synthetic brightfield images.

    python -m ml.train --seed 1 --lr 2e-3 --pool 800 --steps 8000 --minutes 36 --version 1.4.0 --out DIR
    python -m ml.train --recalibrate CARD --working-size 480      # working size and floors of a card
    python -m ml.train --steps 50 --pool 64 --floor-images 4 --out /tmp/x   # a smoke run

Seeded (numpy + torch), a training pool and a disjoint validation pool of synthetic images
(``ml.synth``), augmentations (scale jitter, crops, flips, 90° rotations, gamma / contrast /
noise / blur), AdamW with a warm-up + cosine learning-rate schedule, periodic checkpoints. At the
end: the weights (float16 state dict), their SHA-256, the confidence and border floors chosen
on full-size synthetic validation images at the working size the card serves (``calibrate``)
and a model card JSON with the exact command, data, run time, machine and load written beside
them. The shipped card's ``training.command``
is the command that produced its weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_NAME = "spheroseg-unet"
WORK_SIZE = 320  # long side of the training images
SERVE_SIZE = 480  # default short side the engine runs the model at (card input.working_short_side_px)
CROP = 128
# Full-size validation images for the confidence floor: rng seed FLOOR_SEED_BASE + 1000 * seed + i,
# disjoint from the training/validation pools (seed * 1_000_003 + i) and from ``ml.evaluate
# --synthetic`` (10_000_000 + 1000 * seed + i).
FLOOR_SEED_BASE = 20_000_000
FLOOR_CANDIDATES = np.round(np.arange(0.50, 0.951, 0.01), 2)
BORDER_FLOOR_CANDIDATES = np.round(np.arange(0.70, 0.951, 0.01), 2)


# --------------------------------------------------------------------------- data


def _gen_one(args):
    seed, size = args
    from ml.io import normalize
    from ml.synth import generate

    rng = np.random.default_rng(seed)
    img, labels, contact = generate(rng, size)
    x = (normalize(img) * 255).round().astype(np.uint8)
    y = ((labels > 0).astype(np.uint8) | (contact.astype(np.uint8) << 1))
    return x, y


def make_pool(n: int, seed: int, size: int = WORK_SIZE, workers: int = 2):
    jobs = [(seed * 1_000_003 + i, size) for i in range(n)]
    if workers > 1:
        with Pool(workers) as p:
            out = p.map(_gen_one, jobs, chunksize=8)
    else:
        out = [_gen_one(j) for j in jobs]
    X = np.stack([o[0] for o in out])
    Y = np.stack([o[1] for o in out])
    return X, Y


def pairs_to_pool(pairs, size: int = WORK_SIZE):
    """Real image/label-mask pairs -> pool of ``size`` x ``size`` squares (for fine-tuning), at
    the scale the engine serves them: the short side at ``size`` (at most 2 x enlarged), a wide
    image cut into overlapping squares along its long side, a small one reflect-padded."""
    from ml.io import normalize
    from ml.synth import contact_band

    xs, ys = [], []
    for image, labels in pairs:
        g = normalize(image)
        labels = np.asarray(labels)
        h, w = g.shape
        s = min(2.0, size / min(h, w))
        nh, nw = max(16, round(h * s)), max(16, round(w * s))
        g = cv2.resize(g, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        lab = cv2.resize(labels.astype(np.float32), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(np.uint16)
        g8 = (g * 255).round().astype(np.uint8)
        y_all = (lab > 0).astype(np.uint8) | (contact_band(lab) << 1)
        for y0 in _square_starts(nh, size):
            for x0 in _square_starts(nw, size):
                x = g8[y0:y0 + size, x0:x0 + size]
                y = np.zeros((size, size), np.uint8)
                y[:x.shape[0], :x.shape[1]] = y_all[y0:y0 + size, x0:x0 + size]
                if x.shape != (size, size):  # reflect-pad the image (labels stay background)
                    x = cv2.copyMakeBorder(x, 0, size - x.shape[0], 0, size - x.shape[1], cv2.BORDER_REFLECT)
                xs.append(x)
                ys.append(y)
    return np.stack(xs), np.stack(ys)


def _square_starts(n: int, size: int) -> list[int]:
    """Offsets of the fewest ``size`` windows that cover ``n`` pixels, evenly overlapping."""
    if n <= size:
        return [0]
    k = -(-n // size)
    return [round(i * (n - size) / (k - 1)) for i in range(k)]


GAMMA = (0.7, 1.4)  # tone-curve augmentation: x ** uniform(lo, hi)


def gamma_range(text: str) -> tuple[float, float]:
    """``--gamma LO,HI``: two powers, 0 < LO <= HI."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers), got {text!r}") from None
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI, got {text!r}")
    return lo, hi


def augment_batch(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray, batch: int, crop: int = CROP,
                  gamma: tuple[float, float] = GAMMA):
    n, H, W = X.shape
    xb = np.empty((batch, 1, crop, crop), np.float32)
    yb = np.empty((batch, 2, crop, crop), np.float32)
    for b in range(batch):
        i = int(rng.integers(n))
        s = math.exp(rng.uniform(math.log(0.55), math.log(1.8)))  # objects 0.55-1.8x their pool size
        c = int(min(H, W, round(crop * s)))
        y0 = int(rng.integers(0, H - c + 1))
        x0 = int(rng.integers(0, W - c + 1))
        xi = X[i, y0:y0 + c, x0:x0 + c]
        yi = Y[i, y0:y0 + c, x0:x0 + c]
        if c != crop:
            xi = cv2.resize(xi, (crop, crop), interpolation=cv2.INTER_AREA if c > crop else cv2.INTER_LINEAR)
            yi = cv2.resize(yi, (crop, crop), interpolation=cv2.INTER_NEAREST)
        k = int(rng.integers(4))
        xi, yi = np.rot90(xi, k), np.rot90(yi, k)
        if rng.uniform() < 0.5:
            xi, yi = xi[:, ::-1], yi[:, ::-1]
        x = xi.astype(np.float32) / 255.0
        if rng.uniform() < 0.3:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
        x = np.clip(x, 0, 1) ** rng.uniform(*gamma)
        x = x * rng.uniform(0.85, 1.15) + rng.uniform(-0.08, 0.08)
        if rng.uniform() < 0.5:
            x = x + rng.normal(0, rng.uniform(0.0, 0.04), x.shape).astype(np.float32)
        xb[b, 0] = np.clip(x, 0, 1)
        yb[b, 0] = (yi & 1)
        yb[b, 1] = (yi >> 1) & 1
    return xb, yb


# --------------------------------------------------------------------------- training loop


def _loss(logits, target):
    import torch
    import torch.nn.functional as F

    fg, ct = logits[:, 0], logits[:, 1]
    tf, tc = target[:, 0], target[:, 1]
    bce = F.binary_cross_entropy_with_logits(fg, tf)
    p = torch.sigmoid(fg)
    inter = (p * tf).sum((1, 2))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2)) + tf.sum((1, 2)) + 1)
    cbce = F.binary_cross_entropy_with_logits(ct, tc, pos_weight=torch.tensor(4.0))
    return bce + dice.mean() + 0.5 * cbce


def val_iou(model, Xv, Yv) -> float:
    import torch

    model.eval()
    inter = union = 0
    with torch.inference_mode():
        for i in range(0, len(Xv), 8):
            x = torch.from_numpy(Xv[i:i + 8].astype(np.float32)[:, None] / 255.0)
            p = model(x)[:, 0].numpy() > 0
            t = (Yv[i:i + 8] & 1) > 0
            inter += np.logical_and(p, t).sum()
            union += np.logical_or(p, t).sum()
    model.train()
    return float(inter / max(union, 1))


def train_loop(model, X, Y, *, steps: int, lr: float, batch: int, seed: int, log=print,
               ckpt_path: Path | None = None, ckpt_every: int = 100, crop: int = CROP,
               minutes: float | None = None, warmup: int = 50, gamma: tuple[float, float] = GAMMA):
    """AdamW, warm-up + cosine schedule. With ``minutes``, the schedule runs on the fraction of
    the time budget used (for a shared, loaded machine) and training stops when it is spent or
    after ``steps``, whichever comes first. Returns (seconds, steps done)."""
    import torch

    rng = np.random.default_rng(seed + 17)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    t0 = time.time()
    ema = None
    done = 0
    for step in range(1, steps + 1):
        frac = step / steps
        if minutes:
            frac = max(frac, (time.time() - t0) / (60.0 * minutes))
            if frac >= 1.0:
                break
        cur = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        if step < warmup:
            cur = lr * step / warmup
        for g in opt.param_groups:
            g["lr"] = cur
        xb, yb = augment_batch(rng, X, Y, batch, crop, gamma)
        out = model(torch.from_numpy(xb))
        loss = _loss(out, torch.from_numpy(yb))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        done = step
        if step % 25 == 0 or step == steps:
            el = time.time() - t0
            log(f"step {step}/{steps} loss {ema:.4f} lr {cur:.2e} {el / step:.2f} s/step elapsed {el / 60:.1f} min")
        if ckpt_path is not None and (step % ckpt_every == 0 or step == steps):
            torch.save({"step": step, "model": model.state_dict()}, ckpt_path)
    return time.time() - t0, done


def floor_pairs(n: int, seed: int, size: int = 1000):
    """``n`` full-size synthetic validation images with their label masks (see FLOOR_SEED_BASE)."""
    from ml.synth import generate

    out = []
    for i in range(n):
        img, lab, _ = generate(np.random.default_rng(FLOOR_SEED_BASE + 1000 * seed + i), size)
        out.append((img, lab))
    return out


def _object_table(model_name: str, pairs) -> list[dict]:
    """Per image, the served model's objects: whether each is true (matches a reference object
    at IoU >= 0.5; such matches are one-to-one, so dropping an object changes TP/FP/FN exactly),
    its confidence and solidity, whether it is cut by the border, whether the engine would keep it
    under a confidence floor (compact and round); and the number of references."""
    from ml.engine import cut_by_border, kept_under_floor, segment
    from ml.evaluate import iou_matrix
    from ml.geometry import rasterize

    rows = []
    for img, lab in pairs:
        res = segment(img, model=model_name)
        pred = rasterize(res.polygons, res.height, res.width)
        iou = iou_matrix(lab.astype(np.int32), pred.astype(np.int32))
        metrics = [p["metrics"] for p in res.polygons]
        rows.append({
            "true": iou.max(0) >= 0.5 if iou.size else np.zeros(len(metrics), bool),
            "confidence": np.array([p["confidence"] for p in res.polygons], np.float64),
            "solidity": np.array([m.get("solidity") or 1.0 for m in metrics], np.float64),
            "border": np.array([cut_by_border(p, res.width, res.height) for p in res.polygons], bool),
            "compact": np.array([kept_under_floor(p, res.width, res.height) for p in res.polygons], bool),
            "refs": int(lab.max()),
        })
    return rows


def _dropped(row: dict, key: str, floor: float, border_only: bool) -> np.ndarray:
    below = row[key] < floor
    if key == "confidence":  # the engine keeps compact round objects under the confidence floor
        below &= ~row["compact"]
    return below & row["border"] if border_only else below


def _mean_ap50(rows: list[dict], key: str, floor: float, border_only: bool = False) -> float:
    vals = []
    for r in rows:
        kept = ~_dropped(r, key, floor, border_only)
        tp, fp = int((r["true"] & kept).sum()), int((~r["true"] & kept).sum())
        d = tp + fp + (r["refs"] - tp)
        vals.append(tp / d if d else 1.0)
    return float(np.mean(vals))


def _floor_counts(rows: list[dict], key: str, floor: float, border_only: bool = False) -> dict:
    """True and false objects the floor considers, and how many of each it drops."""
    out = dict.fromkeys(("true", "false", "true_below", "false_below"), 0)
    for r in rows:
        considered = r["border"] if border_only else np.ones_like(r["true"])
        dropped = _dropped(r, key, floor, border_only)
        out["true"] += int((r["true"] & considered).sum())
        out["false"] += int((~r["true"] & considered).sum())
        out["true_below"] += int((r["true"] & dropped).sum())
        out["false_below"] += int((~r["true"] & dropped).sum())
    return out


def choose_floor(model_name: str, pairs, rows: list[dict] | None = None) -> dict:
    """Confidence floor for ``model_name`` (served without one) that maximises mean AP50 on
    ``pairs`` (or on their object table ``rows``); ties go to the lowest floor. Returns the floor
    and the counts behind it."""
    rows = _object_table(model_name, pairs) if rows is None else rows
    scores = [_mean_ap50(rows, "confidence", f) for f in FLOOR_CANDIDATES]
    best = int(np.argmax(scores))  # first maximum = lowest floor
    f = float(FLOOR_CANDIDATES[best])
    return {"min_confidence": f, "images": len(rows), **_floor_counts(rows, "confidence", f),
            "ap50_without": round(_mean_ap50(rows, "confidence", 0.0), 4), "ap50_with": round(scores[best], 4)}


def choose_border_floor(model_name: str, pairs, rows: list[dict] | None = None) -> dict:
    """Solidity floor for objects cut by the image border (``postprocess.border_min_solidity``)
    that maximises mean AP50 on ``pairs`` (or ``rows``), for ``model_name`` served with its
    confidence floor and without a border floor; 0 (no floor) unless a floor in 0.70-0.95 does
    better, ties to the lowest. Returns the floor and the counts behind it (of border objects)."""
    rows = _object_table(model_name, pairs) if rows is None else rows
    without = _mean_ap50(rows, "solidity", 0.0, border_only=True)
    scores = [_mean_ap50(rows, "solidity", f, border_only=True) for f in BORDER_FLOOR_CANDIDATES]
    best = int(np.argmax(scores))
    f = float(BORDER_FLOOR_CANDIDATES[best]) if scores[best] > without else 0.0
    counts = _floor_counts(rows, "solidity", f, border_only=True)
    return {"border_min_solidity": f, "images": len(rows), "border_true": counts["true"],
            "border_false": counts["false"], "true_below": counts["true_below"],
            "false_below": counts["false_below"], "ap50_without": round(without, 4),
            "ap50_with": round(max(without, scores[best]), 4)}


def _above(rows: list[dict], min_confidence: float) -> list[dict]:
    """The object table as the model serves it with ``min_confidence`` (a floor only filters)."""
    out = []
    for r in rows:
        keep = ~_dropped(r, "confidence", min_confidence, False)
        out.append({k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in r.items()})
    return out


def calibrate(card_path: Path, seed: int, images: int, log=print) -> tuple[dict, dict]:
    """Choose both floors for the model of ``card_path`` as the card serves it (working size
    included) on the floor-validation images of ``seed``: the confidence floor, then, with it
    applied, the border floor (both floors only filter objects, so one segmentation of the
    images serves both). Returns the card's ``postprocess`` entries and the seconds taken."""
    from ml.engine import use_card

    t = time.time()
    use_card(card_path, min_confidence=0.0, border_min_solidity=0.0)
    rows = _object_table(MODEL_NAME, floor_pairs(images, seed))
    fl = choose_floor(MODEL_NAME, None, rows)
    bf = choose_border_floor(MODEL_NAME, None, _above(rows, fl["min_confidence"]))
    images_text = f"{fl['images']} synthetic 1000x1000 validation images (seeds {FLOOR_SEED_BASE + 1000 * seed} + i"
    postprocess = {
        "min_confidence": fl["min_confidence"],
        "chosen_on": f"{images_text}; not the training pools, not ml.evaluate's seeds, not the real images), the "
                     f"floor in 0.50-0.95 maximising mean AP50 ({fl['ap50_without']} without -> "
                     f"{fl['ap50_with']}): {fl['true_below']} of {fl['true']} true objects and "
                     f"{fl['false_below']} of {fl['false']} false ones fall below it; the floor applied is "
                     f"min_confidence + (threshold - 0.5)",
        "border_min_solidity": bf["border_min_solidity"] or None,
        "border_chosen_on": f"{images_text}, as for min_confidence), with min_confidence applied: the solidity "
                            f"floor in 0.70-0.95 for objects cut by the image border (ml.engine.cut_by_border) "
                            f"maximising mean AP50 ({bf['ap50_without']} without -> {bf['ap50_with']}): "
                            f"{bf['true_below']} of "
                            f"{bf['border_true']} true and {bf['false_below']} of {bf['border_false']} false "
                            f"border objects fall below it",
    }
    log(f"confidence floor {fl['min_confidence']}: {postprocess['chosen_on']}")
    log(f"border floor {postprocess['border_min_solidity']}: {postprocess['border_chosen_on']}")
    return postprocess, {"floor_s": round(time.time() - t, 1)}


def save_weights(model, path: Path) -> str:
    import torch

    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_card(out_dir: Path, weights_file: str, sha: str, model, *, version: str, recipe: dict,
               metrics: dict, description: str, postprocess: dict | None = None,
               working_size: int = SERVE_SIZE) -> Path:
    from ml.model import count_parameters

    card = {
        "name": MODEL_NAME,
        "version": version,
        "kind": "unet",
        "weights": weights_file,
        "sha256": sha,
        "parameters": count_parameters(model),
        "architecture": {"type": "ResUNet", "channels": list(model.channels), "in": 1,
                         "out": ["spheroid body", "contact band between touching spheroids"]},
        "input": {"working_short_side_px": working_size, "normalisation": "grey, percentile 0.5/99.5 -> [0,1]"},
        "description": description,
        "training": recipe,
        **({"postprocess": postprocess} if postprocess else {}),
        "metrics": metrics,
        "default": True,
    }
    p = out_dir / f"{MODEL_NAME}.json"
    p.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=CROP)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--pool", type=int, default=400, help="synthetic training images")
    ap.add_argument("--val", type=int, default=100, help="synthetic validation images (disjoint seeds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=None,
                    help="time budget for the optimisation (schedule follows the elapsed fraction)")
    ap.add_argument("--cache", type=Path, default=None, help="npz cache of the generated pools")
    ap.add_argument("--channels", default=None, help="encoder widths, e.g. 8,24,48,96,128")
    ap.add_argument("--init", type=Path, default=None, help="start from a checkpoint (continue training)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--gamma", type=gamma_range, default=GAMMA, metavar="LO,HI",
                    help="tone-curve augmentation: each crop raised to a power drawn uniformly in LO-HI")
    ap.add_argument("--floor-images", type=int, default=30,
                    help="full-size synthetic validation images for choosing min_confidence (0: no floor)")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--working-size", type=int, default=SERVE_SIZE,
                    help="short side the engine runs the model at (written into the card; the floors are "
                         "chosen at it)")
    ap.add_argument("--recalibrate", type=Path, default=None, metavar="CARD",
                    help="train nothing: set CARD's working size to --working-size and choose both floors "
                         "again (on the floor-validation images of its training seed), written into CARD")
    args = ap.parse_args(argv)
    if args.recalibrate is not None:
        card = json.loads(args.recalibrate.read_text())
        seed = int(card.get("training", {}).get("seed", args.seed))
        inp = card.setdefault("input", {})
        inp.pop("working_long_side_px", None)  # the name before 2026-11-30
        inp["working_short_side_px"] = args.working_size
        args.recalibrate.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        postprocess, seconds = calibrate(args.recalibrate, seed, args.floor_images)
        card["postprocess"] = postprocess
        card["training"].pop("border_floor_s", None)  # earlier versions timed the two floors apart
        card["training"].update(seconds)
        card["training"]["recalibrated"] = "python -m ml.train " + " ".join(argv if argv is not None else sys.argv[1:])
        args.recalibrate.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        return

    import torch

    from ml.model import ResUNet

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    load_start = os.getloadavg()
    log = lambda m: print(m, flush=True)  # noqa: E731
    log(f"generating {args.pool} training + {args.val} validation synthetic images at {WORK_SIZE} px")
    if args.cache is not None and args.cache.is_file():
        z = np.load(args.cache)
        X, Y, Xv, Yv = z["X"], z["Y"], z["Xv"], z["Yv"]
    else:
        X, Y = make_pool(args.pool, seed=args.seed * 2 + 1)
        Xv, Yv = make_pool(args.val, seed=args.seed * 2 + 2)
        if args.cache is not None:
            np.savez(args.cache, X=X, Y=Y, Xv=Xv, Yv=Yv)
    t_gen = time.time() - t_start
    log(f"generated in {t_gen:.0f} s")
    channels = tuple(int(c) for c in args.channels.split(",")) if args.channels else None
    model = ResUNet(channels) if channels else ResUNet()
    if args.init is not None:
        ck = torch.load(args.init, map_location="cpu", weights_only=True)
        model.load_state_dict(ck.get("model", ck))
        log(f"initialised from {args.init} (step {ck.get('step', '?')})")
    ckpt = args.out / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    t_train, steps_done = train_loop(model, X, Y, steps=args.steps, lr=args.lr, batch=args.batch,
                                     seed=args.seed, log=log, ckpt_path=ckpt, crop=args.crop,
                                     minutes=args.minutes, warmup=args.warmup, gamma=args.gamma)
    iou = val_iou(model, Xv, Yv)
    log(f"validation pixel IoU (synthetic, working resolution): {iou:.4f}")
    model.eval()
    wfile = f"{MODEL_NAME}-v{args.version}.pt"
    sha = save_weights(model, args.out / wfile)
    load_train = os.getloadavg()
    recipe = {
        "command": "python -m ml.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": f"{args.pool} synthetic brightfield images (ml.synth, 320x320, rng seeds "
                f"{(args.seed * 2 + 1) * 1_000_003} + i) + {args.val} validation images (seeds "
                f"{(args.seed * 2 + 2) * 1_000_003} + i); confidence floor on {args.floor_images} "
                f"1000x1000 validation images (seeds {FLOOR_SEED_BASE + 1000 * args.seed} + i)",
        "steps": steps_done, "max_steps": args.steps, "time_budget_min": args.minutes, "batch": args.batch,
        "crop": args.crop, "optimizer": "AdamW wd 1e-4", "lr": args.lr, "warmup_steps": args.warmup,
        "schedule": "linear warm-up then cosine to 0 over max_steps or the time budget (whichever ends first)",
        "loss": "BCE + soft Dice (body) + 0.5 * BCE pos_weight 4 (contact band)",
        "augmentations": f"scale 0.55-1.8 (log-uniform), crop, rot90, flip, blur, gamma {args.gamma[0]:g}-{args.gamma[1]:g}, contrast, "
                         "offset, noise",
        "seed": args.seed, "threads": args.threads, "init": str(args.init) if args.init else None,
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                   f"Python {platform.python_version()}",
        "load_average_1_5_15_min": {"start": [round(v, 2) for v in load_start],
                                    "end_of_training": [round(v, 2) for v in load_train]},
        "generation_s": round(t_gen, 1), "training_s": round(t_train, 1),
    }
    metrics = {"synthetic_val_pixel_iou": round(iou, 4)}
    description = ("Compact residual U-Net trained only on synthetic brightfield spheroid images; predicts "
                   "spheroid bodies and the contact band between touching spheroids.")
    card = write_card(args.out, wfile, sha, model, version=args.version, recipe=recipe, metrics=metrics,
                      description=description, working_size=args.working_size)
    postprocess = None
    if args.floor_images > 0:
        postprocess, seconds = calibrate(card, args.seed, args.floor_images, log)
        recipe.update(seconds)
    total = time.time() - t_start
    recipe["run_time_s"] = round(total, 1)
    recipe["load_average_1_5_15_min"]["end"] = [round(v, 2) for v in os.getloadavg()]
    card = write_card(args.out, wfile, sha, model, version=args.version, recipe=recipe, metrics=metrics,
                      description=description, postprocess=postprocess, working_size=args.working_size)
    log(f"wrote {args.out / wfile} (sha256 {sha}) and {card}; total {total / 60:.1f} min")


if __name__ == "__main__":
    main()
