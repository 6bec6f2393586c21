"""Command line: ``python -m ml segment IMAGE... --out DIR [--model NAME] [--threshold T] [--pixel-size UM]``.

Writes per image ``<name>.json`` (image, width, height, model, polygons with metrics) and
``<name>.overlay.png``. Unreadable files are reported and skipped; the exit status is 1 if any
image failed. ``python -m ml models`` lists the available models.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def overlay(image: np.ndarray, polygons: list, max_side: int = 1600) -> np.ndarray:
    """BGR uint8 overlay of the outlines (exteriors green, holes red, index labels)."""
    import cv2

    from ml.io import normalize

    g = (normalize(image) * 255).astype(np.uint8)
    h, w = g.shape
    s = min(1.0, max_side / max(h, w))
    if s < 1:
        g = cv2.resize(g, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    out = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    th = max(1, round(2 * max(out.shape[:2]) / 1000))
    for i, p in enumerate(polygons, start=1):
        ext = (np.asarray(p["exterior"], np.float64) * s * 16).round().astype(np.int32)
        cv2.polylines(out, [ext], True, (0, 220, 0), th, cv2.LINE_AA, shift=4)
        for hole in p.get("holes", []):
            hh = (np.asarray(hole, np.float64) * s * 16).round().astype(np.int32)
            cv2.polylines(out, [hh], True, (0, 0, 255), th, cv2.LINE_AA, shift=4)
        x, y = np.asarray(p["exterior"]).min(axis=0) * s
        cv2.putText(out, str(i), (int(x), max(12, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * th,
                    (0, 200, 255), th, cv2.LINE_AA)
    return out


def cmd_segment(args) -> int:
    import cv2
    from tqdm import tqdm

    from ml.engine import segment
    from ml.io import ImageReadError, read_image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    paths = [Path(p) for p in args.images]
    bar = tqdm(paths, unit="image", disable=len(paths) < 2 or args.quiet, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name[:30])
        try:
            img, info = read_image(path, max_pixels=args.max_pixels)
        except ImageReadError as exc:
            msg = f"error: cannot read {path}: {exc}"
            print(msg, file=sys.stderr)
            failed.append(str(path))
            continue
        px = args.pixel_size if args.pixel_size is not None else info.pixel_size_um
        try:
            res = segment(img, model=args.model, threshold=args.threshold, min_area_px=args.min_area,
                          pixel_size_um=px)
        except ValueError as exc:  # an image segment refuses (a line 1 px thin): the others go on
            print(f"error: cannot segment {path}: {exc}", file=sys.stderr)
            failed.append(str(path))
            continue
        doc = res.to_json(path.name)
        doc["pixel_size_um"] = px
        doc["timings_s"] = res.timings
        (out / f"{path.stem}.json").write_text(json.dumps(doc) + "\n")
        cv2.imwrite(str(out / f"{path.stem}.overlay.png"), overlay(img, res.polygons))
        if not args.quiet and len(paths) < 2:
            print(f"{path.name}: {len(res.polygons)} object(s) in {res.timings['total']:.2f} s -> "
                  f"{out / (path.stem + '.json')}")
    if failed:
        print(f"{len(failed)} of {len(paths)} image(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_models(args) -> int:
    from ml.engine import list_models

    for c in list_models():
        print(json.dumps({"name": c.name, "version": c.version, "kind": c.kind, "parameters": c.parameters,
                          "sha256": c.sha256, "default": c.default, "metrics": c.metrics}))
    return 0


def main(argv=None) -> int:
    from ml.engine import DEFAULT_MODEL

    ap = argparse.ArgumentParser(prog="python -m ml", description="Spheroseg segmentation engine")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("segment", help="segment images into measured outlines")
    s.add_argument("images", nargs="+")
    s.add_argument("--out", required=True)
    s.add_argument("--model", default=DEFAULT_MODEL)
    s.add_argument("--threshold", type=float, default=0.5)
    s.add_argument("--min-area", type=int, default=None, help="minimum object area in px (default: 0.06%% of image)")
    s.add_argument("--pixel-size", type=float, default=None, help="µm per pixel (default: from file metadata)")
    s.add_argument("--max-pixels", type=int, default=100_000_000)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_segment)
    m = sub.add_parser("models", help="list models")
    m.set_defaults(func=cmd_models)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
