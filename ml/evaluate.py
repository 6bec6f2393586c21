"""Evaluate models on images with reference label masks, model and classical side by side.

    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks
    python -m ml.evaluate --synthetic 30 --seed 7          # fresh synthetic images (unseen seeds)
    python -m ml.evaluate --holdout 30 --seed 1000         # images of the independent ml.holdout generator
    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks --zoom 2   # seen 2 x closer
    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks --zoom 0.5 # at half the pixels
    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks --resample 3  # 3 x the pixels
    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks --close-ups 1.2  # each object close up
    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks --gamma 1.6 # darker mid-tones
    python -m ml.evaluate --images demo/spheroids --masks demo/reference_masks --shading 0.3 --seed 1  # uneven light
    python -m ml.evaluate --holdout 30 --seed 7000 --size 1000x1600     # a wide field (--size N or HxW)
    python -m ml.evaluate --holdout 30 --seed 3000 --blur 3 --noise 0.05  # softer focus, noisier camera
    python -m ml.evaluate --synthetic 30 --card /tmp/run/spheroseg-unet.json   # a scratch training run

Masks: 16-bit (or 8-bit) PNG/TIFF label images with the image's base name, 0 = background,
1..N = objects. Figures per image and mean:

- ``mIoU``: mean IoU of matched objects (Hungarian matching on IoU, a match needs IoU >= 0.5);
- ``mIoU_all``: mean over reference objects of their matched IoU, unmatched ones counting 0;
- ``Dice``: pixel Dice of foreground vs background;
- ``AP50`` / ``AP75``: TP / (TP + FP + FN) at IoU 0.5 / 0.75 (the cell-segmentation "AP");
- ``count_err``: predicted minus reference object count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from ml.metrics import touches_border

IMAGE_EXT = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def iou_matrix(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    ng, npd = int(gt.max()), int(pred.max())
    if ng == 0 or npd == 0:
        return np.zeros((ng, npd))
    idx = gt.astype(np.int64) * (npd + 1) + pred.astype(np.int64)
    inter = np.bincount(idx.ravel(), minlength=(ng + 1) * (npd + 1)).reshape(ng + 1, npd + 1)
    ag = inter.sum(1)
    ap = inter.sum(0)
    union = ag[:, None] + ap[None, :] - inter
    iou = inter / np.maximum(union, 1)
    return iou[1:, 1:]


def compare(gt: np.ndarray, pred: np.ndarray) -> dict:
    gt = _relabel(gt)
    pred = _relabel(pred)
    ng, npd = int(gt.max()), int(pred.max())
    iou = iou_matrix(gt, pred)
    matched = []
    if ng and npd:
        r, c = linear_sum_assignment(-iou)
        matched = [float(iou[i, j]) for i, j in zip(r, c, strict=True)]
    out = {"n_ref": ng, "n_pred": npd}
    good = [m for m in matched if m >= 0.5]
    out["mIoU"] = float(np.mean(good)) if good else None
    out["mIoU_all"] = float(np.sum(good) / ng) if ng else None
    a, b = gt > 0, pred > 0
    denom = a.sum() + b.sum()
    out["Dice"] = float(2 * np.logical_and(a, b).sum() / denom) if denom else 1.0
    for t, key in ((0.5, "AP50"), (0.75, "AP75")):
        tp = sum(1 for m in matched if m >= t)
        fp, fn = npd - tp, ng - tp
        out[key] = float(tp / (tp + fp + fn)) if (tp + fp + fn) else 1.0
    out["count_err"] = npd - ng
    return out


def _relabel(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab)
    if lab.ndim == 3:
        lab = lab[..., 0]
    u = np.unique(lab)
    u = u[u != 0]
    if len(u) and (u[-1] != len(u)):
        lut = np.zeros(int(lab.max()) + 1, np.int32)
        lut[u] = np.arange(1, len(u) + 1)
        return lut[lab]
    return lab.astype(np.int32)


def predict_labels(image: np.ndarray, model: str, threshold: float = 0.5) -> tuple[np.ndarray, float, list]:
    """Label image of the model's objects (1..N in result order), seconds, and the objects."""
    from ml.engine import segment
    from ml.geometry import rasterize

    res = segment(image, model=model, threshold=threshold)
    return rasterize(res.polygons, res.height, res.width), res.timings.get("total", 0.0), res.polygons


OBJECT_COLUMNS = ("model", "image", "object", "true", "best_iou", "confidence", "area_px", "solidity",
                  "circularity", "convexity", "touches_border")


def object_rows(model: str, name: str, gt: np.ndarray, pred: np.ndarray, polygons: list) -> list[dict]:
    """One row per predicted object: its best IoU with a reference object (true when >= 0.5,
    such matches are one-to-one), confidence and shape figures: what the false objects are like."""
    iou = iou_matrix(_relabel(gt), pred.astype(np.int32))
    h, w = pred.shape
    rows = []
    for k, p in enumerate(polygons):
        best = float(iou[:, k].max()) if iou.shape[0] and k < iou.shape[1] else 0.0
        m = p.get("metrics") or {}
        touches = touches_border(m.get("bbox"), w, h)
        rows.append({"model": model, "image": name, "object": k + 1, "true": best >= 0.5, "best_iou": round(best, 4),
                     "confidence": p.get("confidence"), "area_px": m.get("area_px"), "solidity": m.get("solidity"),
                     "circularity": m.get("circularity"), "convexity": m.get("convexity"),
                     "touches_border": touches})
    return rows


def print_objects(rows: list[dict], file=None) -> None:
    """Medians (and 5th / 95th percentiles) of the shape figures of true and false objects."""
    file = file or sys.stdout
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        groups = {"true": [r for r in mine if r["true"]], "false": [r for r in mine if not r["true"]]}
        print(f"\n== objects of {model}: {len(groups['true'])} true, {len(groups['false'])} false "
              f"({sum(r['touches_border'] for r in groups['false'])} of them touch the border)", file=file)
        for key in ("confidence", "solidity", "circularity", "convexity"):
            parts = []
            for label, group in groups.items():
                vals = [r[key] for r in group if r[key] is not None]
                parts.append(f"{label} p5/p50/p95 " + (" / ".join(f"{v:.3f}" for v in np.percentile(vals, [5, 50, 95]))
                                                       if vals else "-"))
            print(f"  {key:12s} " + "   ".join(parts), file=file)


def _mean(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def summarize(rows: list[dict]) -> dict:
    out = {k: _mean(rows, k) for k in ("mIoU", "mIoU_all", "Dice", "AP50", "AP75")}
    out["abs_count_err"] = float(np.mean([abs(r["count_err"]) for r in rows])) if rows else None
    out["images"] = len(rows)
    out["objects_ref"] = int(sum(r["n_ref"] for r in rows))
    out["objects_pred"] = int(sum(r["n_pred"] for r in rows))
    return out


def _fmt(v):
    return "  -  " if v is None else (f"{v:+d}" if isinstance(v, int) else f"{v:.3f}")


def print_table(name: str, per_image: dict[str, dict], summary: dict, file=None):
    file = file or sys.stdout
    print(f"\n== {name}", file=file)
    print(f"{'image':32s} {'ref':>4s} {'pred':>4s} {'mIoU':>6s} {'mIoUall':>7s} {'Dice':>6s} {'AP50':>6s} {'AP75':>6s} {'cnt':>4s}",
          file=file)
    for img, r in per_image.items():
        print(f"{img[:32]:32s} {r['n_ref']:4d} {r['n_pred']:4d} {_fmt(r['mIoU']):>6s} {_fmt(r['mIoU_all']):>7s} "
              f"{_fmt(r['Dice']):>6s} {_fmt(r['AP50']):>6s} {_fmt(r['AP75']):>6s} {r['count_err']:+4d}", file=file)
    s = summary
    print(f"{'MEAN':32s} {s['objects_ref']:4d} {s['objects_pred']:4d} {_fmt(s['mIoU']):>6s} {_fmt(s['mIoU_all']):>7s} "
          f"{_fmt(s['Dice']):>6s} {_fmt(s['AP50']):>6s} {_fmt(s['AP75']):>6s} {s['abs_count_err']:4.2f}", file=file)


def load_pairs(images_dir: Path, masks_dir: Path):
    from ml.io import read_image

    pairs = []
    for p in sorted(images_dir.iterdir()):
        if p.suffix.lower() not in IMAGE_EXT:
            continue
        cands = [masks_dir / (p.stem + e) for e in (".png", ".tif", ".tiff")]
        m = next((c for c in cands if c.is_file()), None)
        if m is None:
            continue
        img, _ = read_image(p)
        lab, _ = read_image(m)
        pairs.append((p.name, img, lab))
    return pairs


def _resampled(img: np.ndarray, lab: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """The whole image and mask resampled to ``factor`` x their size: the image area-averaged
    below 1 and bicubic above, the mask nearest-neighbour."""
    h, w = lab.shape
    size = (max(2, round(w * factor)), max(2, round(h * factor)))
    how = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return (cv2.resize(np.ascontiguousarray(img), size, interpolation=how),
            cv2.resize(lab.astype(np.uint16), size, interpolation=cv2.INTER_NEAREST))


def resampled_pairs(pairs, factor: float):
    """Each pair's whole image resampled to ``factor`` x its size (``_resampled``): the same field
    with more or fewer pixels, as a finer or coarser camera (or binning) records it. Enlarged,
    the image is smoother than a finer camera's (no finer detail appears)."""
    if not factor > 0:
        raise ValueError("a resampling factor must be positive")
    return [(f"{Path(name).stem}_s{factor:g}{Path(name).suffix}", *_resampled(np.asarray(img), _relabel(lab), factor))
            for name, img, lab in pairs]


def zoomed_pairs(pairs, factor: float):
    """Each pair seen ``factor`` x as large. Above 1: the 1/``factor`` crop centred on its
    reference objects (shifted to stay inside the image) enlarged back to the full size, the
    image bicubic, the mask nearest-neighbour: real spheroids as a higher magnification shows
    them, larger and more often cut by the border. Below 1: the whole image resampled to
    ``factor`` x its size (``_resampled``): the same field with fewer pixels, as a
    lower-resolution camera or binning records it."""
    if not factor > 0:
        raise ValueError("a zoom factor must be positive")
    out = []
    for name, img, lab in pairs:
        lab = _relabel(lab)
        h, w = lab.shape
        if factor < 1:  # the whole field, fewer pixels
            img, lab = _resampled(np.asarray(img), lab, factor)
        else:  # the crop around the objects, enlarged
            ch, cw = max(2, round(h / factor)), max(2, round(w / factor))
            ys, xs = np.nonzero(lab)
            cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (h // 2, w // 2)
            y0, x0 = min(max(cy - ch // 2, 0), h - ch), min(max(cx - cw // 2, 0), w - cw)
            crop = np.ascontiguousarray(np.asarray(img)[y0:y0 + ch, x0:x0 + cw])
            img = cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC)
            lab = cv2.resize(lab[y0:y0 + ch, x0:x0 + cw].astype(np.uint16), (w, h), interpolation=cv2.INTER_NEAREST)
        out.append((f"{Path(name).stem}_x{factor:g}{Path(name).suffix}", img, lab))
    return out


def close_up_pairs(pairs, k: float):
    """Each reference object seen close up: the square ``k`` x its diameter (its bounding box's
    longer side) centred on it, shifted to stay inside the image (and no larger than its shorter
    side), enlarged to that shorter side (bicubic; the mask nearest-neighbour and relabelled
    1..N): one spheroid filling most of the field, as a higher magnification aimed at it shows
    it, its neighbours cut by the border (they stay reference objects, as with ``--zoom``)."""
    if not k >= 1:
        raise ValueError("a close-up must be at least 1 x the object's diameter")
    out = []
    for name, img, lab in pairs:
        lab = _relabel(lab)
        img = np.asarray(img)
        h, w = lab.shape
        for i in range(1, int(lab.max()) + 1):
            ys, xs = np.nonzero(lab == i)
            if not len(ys):
                continue
            side = min(h, w, round(k * (max(np.ptp(ys), np.ptp(xs)) + 1)))
            y0 = min(max(0, round((ys.min() + ys.max()) / 2 - side / 2)), h - side)
            x0 = min(max(0, round((xs.min() + xs.max()) / 2 - side / 2)), w - side)
            size = (min(h, w),) * 2
            out.append((f"{Path(name).stem}_o{i}_c{k:g}{Path(name).suffix}",
                        cv2.resize(np.ascontiguousarray(img[y0:y0 + side, x0:x0 + side]), size,
                                   interpolation=cv2.INTER_CUBIC),
                        _relabel(cv2.resize(lab[y0:y0 + side, x0:x0 + side].astype(np.uint16), size,
                                            interpolation=cv2.INTER_NEAREST))))
    return out


def _in_dtype(f: np.ndarray, dtype) -> np.ndarray:
    """Float pixels back in an image's dtype (integers rounded and clipped to its range)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        f = np.clip(np.round(f), info.min, info.max)
    return f.astype(dtype)


def degraded_pairs(pairs, blur: float = 0.0, noise: float = 0.0):
    """Each image blurred (Gaussian, sigma ``blur`` px) and/or given Gaussian noise (sigma ``noise``
    x the image's 0.5-99.5 percentile range, seeded by the image's position), in its own dtype:
    a softer focus or a noisier camera than the images were recorded with. Masks unchanged."""
    if blur < 0 or noise < 0:
        raise ValueError("blur and noise must not be negative")
    out = []
    for i, (name, img, lab) in enumerate(pairs):
        img = np.asarray(img)
        f = img.astype(np.float32)
        if blur > 0:
            f = cv2.GaussianBlur(f, (0, 0), blur)
        if noise > 0:
            lo, hi = np.percentile(f, [0.5, 99.5])
            f = f + np.random.default_rng(i).normal(0.0, noise * float(hi - lo), f.shape).astype(np.float32)
        tag = (f"_b{blur:g}" if blur > 0 else "") + (f"_n{noise:g}" if noise > 0 else "")
        out.append((f"{Path(name).stem}{tag}{Path(name).suffix}", _in_dtype(f, img.dtype), lab))
    return out


def shaded_pairs(pairs, strength: float, seed: int = 0):
    """Each image under uneven illumination: multiplied by ``1 - strength x (d / D)^2``, ``d`` the
    distance from a centre drawn in the image's middle 60 % (seeded by ``seed`` and the image's
    position), ``D`` 0.7 x its long side (the falloff stops at 1.2 ``D``), in its own dtype: an
    off-centre vignetting or a lamp not centred, stronger than a flat-field correction leaves.
    Masks unchanged."""
    if not 0 <= strength < 0.6:
        raise ValueError("strength must be in [0, 0.6)")
    out = []
    for i, (name, img, lab) in enumerate(pairs):
        img = np.asarray(img)
        h, w = img.shape[:2]
        cy, cx = np.random.default_rng([seed, i]).uniform(0.2, 0.8, 2) * (h, w)
        yy, xx = np.ogrid[:h, :w]
        d = np.minimum(np.hypot(yy - cy, xx - cx) / (0.7 * max(h, w)), 1.2)
        gain = (1.0 - strength * d * d).astype(np.float32)
        f = img.astype(np.float32) * (gain[..., None] if img.ndim == 3 else gain)
        out.append((f"{Path(name).stem}_v{strength:g}{Path(name).suffix}", _in_dtype(f, img.dtype), lab))
    return out


def toned_pairs(pairs, gamma: float):
    """Each image with another tone curve: normalised to [0, 1] (``ml.io.normalize``) and raised
    to the power ``gamma`` (above 1 darker mid-tones, below 1 lighter ones), as 16-bit grey: the
    same scene recorded with another exposure or camera response."""
    from ml.io import normalize

    if not gamma > 0:
        raise ValueError("gamma must be positive")
    return [(f"{Path(name).stem}_g{gamma:g}{Path(name).suffix}",
             np.round(normalize(img) ** gamma * 65535).astype(np.uint16), lab) for name, img, lab in pairs]


def synthetic_pairs(n: int, seed: int, size: int | tuple[int, int] = 1000):
    from ml.synth import generate

    out = []
    for i in range(n):
        rng = np.random.default_rng(10_000_000 + seed * 1000 + i)
        img, lab, _ = generate(rng, size)
        out.append((f"synth_{seed}_{i:03d}", img, lab))
    return out


def holdout_pairs(n: int, seed: int, size: int | tuple[int, int] = 1000):
    """Images of ``ml.holdout`` (the evaluation-only generator written independently of ml.synth)."""
    from ml.holdout import generate

    shape = (size, size) if isinstance(size, int) else tuple(size)
    return [(f"holdout_{seed + i}", *generate(seed + i, shape)) for i in range(n)]


def evaluate(pairs, models: list[str], threshold: float = 0.5, objects: list | None = None):
    """Figures per model; with ``objects`` (a list), one row per predicted object is appended."""
    results = {}
    for model in models:
        per = {}
        times = []
        for name, img, lab in pairs:
            pred, t, polygons = predict_labels(img, model, threshold)
            per[name] = compare(lab, pred)
            times.append(t)
            if objects is not None:
                objects.extend(object_rows(model, name, lab, pred, polygons))
        s = summarize(list(per.values()))
        s["median_s_per_image"] = float(np.median(times)) if times else None
        results[model] = (per, s)
    return results


def main(argv=None):
    from ml.engine import DEFAULT_MODEL, WEIGHTS_DIR
    from ml.holdout import parse_size

    ap = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path)
    ap.add_argument("--masks", type=Path)
    ap.add_argument("--synthetic", type=int, default=0, help="evaluate on N fresh synthetic images instead")
    ap.add_argument("--holdout", type=int, default=0, help="evaluate on N images of the independent ml.holdout "
                    "generator (seeds --seed .. --seed + N - 1)")
    ap.add_argument("--zoom", type=float, default=None, metavar="F",
                    help="with --images: evaluate each image seen F x as large: above 1 the 1/F crop "
                         "around its reference objects enlarged back to full size, below 1 the whole "
                         "image resampled to F x its size")
    ap.add_argument("--resample", type=float, default=None, metavar="F",
                    help="with --images: evaluate each whole image resampled to F x its size (bicubic "
                         "above 1, area-averaged below): the same field with more or fewer pixels")
    ap.add_argument("--close-ups", type=float, default=None, metavar="K",
                    help="with --images: evaluate each reference object seen close up, the square K x "
                         "its diameter around it enlarged to the image's shorter side")
    ap.add_argument("--gamma", type=float, default=None, metavar="G",
                    help="evaluate each image with its tone curve raised to the power G (after "
                         "normalisation; above 1 darker mid-tones, below 1 lighter)")
    ap.add_argument("--blur", type=float, default=0.0, metavar="SIGMA",
                    help="evaluate each image blurred by a Gaussian of SIGMA px (a softer focus)")
    ap.add_argument("--noise", type=float, default=0.0, metavar="F",
                    help="evaluate each image with Gaussian noise of F x its 0.5-99.5 percentile range")
    ap.add_argument("--shading", type=float, default=0.0, metavar="S",
                    help="evaluate each image under uneven illumination: darkened by up to S (0-0.6) away "
                         "from an off-centre point drawn from --seed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--size", type=parse_size, default=(1000, 1000), metavar="N | HxW",
                    help="image size for --synthetic and --holdout: N x N, or H x W")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--card", type=Path, help="evaluate the U-Net of this model card (weights beside it) "
                                                 "in place of the shipped model of its name")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--objects", type=Path, help="write one CSV row per predicted object (true or false, best IoU, "
                    "confidence, solidity, circularity, convexity, border) and print their percentiles")
    ap.add_argument("--write-card", metavar="KEY", help="store the mean figures under metrics[KEY] in the model "
                                                          "cards (the --card file for the U-Net when given)")
    args = ap.parse_args(argv)
    card_path = None
    if args.card:
        from ml.engine import ModelLoadError, use_card

        try:
            args.model = use_card(args.card).name
        except ModelLoadError as exc:
            ap.error(str(exc))
        card_path = args.card
    if args.zoom is not None and (args.synthetic or args.holdout):
        ap.error("--zoom goes with --images and --masks")
    if args.close_ups is not None and (args.synthetic or args.holdout):
        ap.error("--close-ups goes with --images and --masks")
    if args.resample is not None and (args.synthetic or args.holdout):
        ap.error("--resample goes with --images and --masks (--size sets generated images' size)")

    def apply(option: str, transform, describe) -> None:
        """The pairs transformed and the label extended; a bad value is a usage error naming ``option``."""
        nonlocal pairs, label
        try:
            pairs = transform(pairs)
        except ValueError as exc:
            ap.error(f"{option}: {exc}")
        label += describe()

    if args.synthetic:
        pairs = synthetic_pairs(args.synthetic, args.seed, args.size)
        label = f"{args.synthetic} synthetic images, seed {args.seed}, {args.size[0]}x{args.size[1]}"
    elif args.holdout:
        pairs = holdout_pairs(args.holdout, args.seed, args.size)
        label = (f"{args.holdout} ml.holdout images, seeds {args.seed}-{args.seed + args.holdout - 1}, "
                 f"{args.size[0]}x{args.size[1]}")
    else:
        if not args.images or not args.masks:
            ap.error("--images and --masks are required (or use --synthetic N or --holdout N)")
        pairs = load_pairs(args.images, args.masks)
        if not pairs:
            ap.error("no image with a matching mask found")
        label = f"{len(pairs)} images from {args.images}"
        if args.zoom is not None:
            apply("--zoom", lambda ps: zoomed_pairs(ps, args.zoom),
                  lambda: f", seen {args.zoom:g} x closer" if args.zoom >= 1
                  else f", resampled to {args.zoom:g} x its size")
        if args.resample is not None:
            apply("--resample", lambda ps: resampled_pairs(ps, args.resample),
                  lambda: f", resampled to {args.resample:g} x its size")
        if args.close_ups is not None:
            apply("--close-ups", lambda ps: close_up_pairs(ps, args.close_ups),
                  lambda: f", {len(pairs)} close-ups ({args.close_ups:g} x each object's diameter)")
    if args.blur or args.noise:
        apply("--blur / --noise", lambda ps: degraded_pairs(ps, args.blur, args.noise),
              lambda: "".join([f", blurred (sigma {args.blur:g} px)" if args.blur else "",
                               f", noise {args.noise:g} x its range" if args.noise else ""]))
    if args.shading:
        apply("--shading", lambda ps: shaded_pairs(ps, args.shading, args.seed),
              lambda: f", shaded (up to {args.shading:g} darker away from an off-centre point, seed {args.seed})")
    if args.gamma is not None:
        apply("--gamma", lambda ps: toned_pairs(ps, args.gamma), lambda: f", tone curve raised to the power {args.gamma:g}")
    models = [args.model] + (["classical"] if args.model != "classical" else [])
    objects: list | None = [] if args.objects else None
    results = evaluate(pairs, models, args.threshold, objects)
    print(f"Evaluation on {label}")
    for m, (per, s) in results.items():
        print_table(m, per, s)
    if args.objects:
        import csv

        with open(args.objects, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=OBJECT_COLUMNS)
            writer.writeheader()
            writer.writerows(objects)
        print_objects(objects)
    if args.json:
        args.json.write_text(json.dumps({m: {"per_image": per, "mean": s} for m, (per, s) in results.items()},
                                        indent=2) + "\n")
    if args.write_card:
        for m, (_per, s) in results.items():
            figures = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}
            figures["data"] = label
            if m == "classical":
                p = WEIGHTS_DIR / "classical.metrics.json"
                d = json.loads(p.read_text()) if p.is_file() else {}
                d[args.write_card] = figures
                p.write_text(json.dumps(d, indent=2) + "\n")
            else:
                p = card_path or WEIGHTS_DIR / f"{m}.json"
                d = json.loads(p.read_text())
                d.setdefault("metrics", {})[args.write_card] = figures
                p.write_text(json.dumps(d, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
