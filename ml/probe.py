"""A third, deliberately simple synthetic generator: a quick probe for the engine.

Written without looking at ``ml.synth`` (the training generator) or ``ml.holdout`` (the
independent one), the way an outside checker might write one in an hour: 1-4 spheroids per
image (smooth ellipses with a wobbly outline, a darker core fading to a paler rim, fine
texture, a soft edge; about a third placed touching an earlier one), dark loose cells around
them and scattered, vesicles (a thin dark ring round a pale inside, also over spheroids), small
dark debris, a linear illumination gradient, blur and noise; every third image a 16-bit TIFF
with a narrow range (LZW-compressed, as OpenCV writes TIFFs), the others 8-bit PNGs. The
reference is every spheroid whole (a later spheroid never takes an earlier one's pixels).

    python -m ml.probe --out OUT --n 30 --seed 0
    python -m ml.probe --out OUT --n 30 --seed 0 --radius 150,350 --spheroids 2   # large ones
    python -m ml.probe --out OUT --n 30 --seed 0 --radius 150,350 --spheroids 2 --well 0.55
    python -m ml.probe --out OUT --n 30 --seed 0 --pale-middle   # dark rims, paler middles
    python -m ml.evaluate --images OUT/images --masks OUT/masks
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from ml.holdout import parse_size  # the same command line as ml.holdout's

__all__ = ["render", "write_set"]


def _wobbly_ellipse(rng, h, w, cx, cy, r, aspect, theta, wobble) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    rr = np.ones_like(t)
    for k in range(2, 7):
        rr += wobble * rng.normal() / k * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    x, y = r * rr * np.cos(t), r * aspect * rr * np.sin(t)
    xs = cx + x * np.cos(theta) - y * np.sin(theta)
    ys = cy + x * np.sin(theta) + y * np.cos(theta)
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(np.stack([xs, ys], 1)).astype(np.int32)], 1)
    return m.astype(bool)


RADIUS = (35.0, 170.0)  # px at 1000 px: spheroids 70-340 px across
SPHEROIDS = 4  # at most, per scene


def render(seed: int, size: tuple[int, int] = (1000, 1000), radius: tuple[float, float] = RADIUS,
           spheroids: int = SPHEROIDS, well: float = 0.0, pale_middle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(image float32 in 8-bit grey levels, label mask uint16)`` of one scene: 1 to
    ``spheroids`` spheroids of a radius drawn from ``radius`` (px at a 1000 px short side); with
    ``well``, the round edge of a well about ``well`` x the short side in radius, near the
    middle, the field outside it darker (as a whole well seen at low magnification; the
    spheroids are placed without regard to it); with ``pale_middle``, every spheroid darkest at
    its rim and paler toward its middle (as a spheroid slightly out of focus, or a hollow one,
    looks in brightfield)."""
    rng = np.random.default_rng(seed)
    pale = np.random.default_rng((seed, 1)) if pale_middle else None  # the same scene, another look
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = rng.uniform(170, 225)
    gx, gy = rng.normal(0, 0.03, 2)
    img = bg * (1 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5))
    img += cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 8)
    labels = np.zeros((h, w), np.uint16)
    placed: list[tuple[float, float, float]] = []
    scale = min(h, w) / 1000.0
    for _ in range(rng.integers(1, spheroids + 1)):
        r = rng.uniform(*radius) * scale
        for _try in range(50):
            if placed and rng.random() < 0.35:  # touching an earlier spheroid
                ax, ay, ar = placed[rng.integers(len(placed))]
                ang, d = rng.uniform(0, 2 * np.pi), (ar + r) * rng.uniform(0.85, 0.97)
                cx, cy = ax + d * np.cos(ang), ay + d * np.sin(ang)
            else:
                cx, cy = rng.uniform(r + 10, w - r - 10), rng.uniform(r + 10, h - r - 10)
            if not (0.8 * r < cx < w - 0.8 * r and 0.8 * r < cy < h - 0.8 * r):
                continue
            if all(np.hypot(cx - a, cy - b) > 0.84 * (c + r) for a, b, c in placed):
                break
        else:
            continue
        body = _wobbly_ellipse(rng, h, w, cx, cy, r, rng.uniform(0.75, 1.0), rng.uniform(0, np.pi),
                               rng.uniform(0.02, 0.12))
        body &= labels == 0
        if body.sum() < 500 * scale * scale:
            continue
        labels[body] = len(placed) + 1
        placed.append((cx, cy, r))
        depth = cv2.distanceTransform(body.astype(np.uint8), cv2.DIST_L2, 5)
        depth /= max(float(depth.max()), 1.0)
        dark, rim = rng.uniform(0.35, 0.8), rng.uniform(0.2, 0.7)  # absorbed at the core; rim's share of it
        texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(1.5, 4))
        if pale_middle:  # a dark rim round a paler middle, down to 0.15-0.5 of the rim's absorbance
            core = pale.uniform(0.15, 0.5)
            profile = core + (1 - core) * np.clip(1.6 - 2.2 * depth, 0, 1) ** 0.7
        else:
            profile = rim + (1 - rim) * np.minimum(1, 3 * depth)
        absorb = np.where(body, dark * profile * (1 + 0.15 * texture), 0)
        img *= 1 - cv2.GaussianBlur(absorb.astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
    for _ in range(rng.integers(20, 150)):  # loose cells, most of them around spheroids
        if placed and rng.random() < 0.7:
            ax, ay, ar = placed[rng.integers(len(placed))]
            ang, d = rng.uniform(0, 2 * np.pi), ar * rng.uniform(1.05, 1.6)
            x, y = ax + d * np.cos(ang), ay + d * np.sin(ang)
        else:
            x, y = rng.uniform(0, w), rng.uniform(0, h)
        cv2.circle(img, (int(x), int(y)), int(rng.uniform(3, 7)), float(bg * rng.uniform(0.45, 0.8)), -1,
                   cv2.LINE_AA)
    for _ in range(rng.integers(0, 6)):  # vesicles
        x, y, rv = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 45)
        cv2.circle(img, (int(x), int(y)), int(rv), float(bg * 0.6), 2, cv2.LINE_AA)
        cv2.circle(img, (int(x), int(y)), int(rv * 0.8), float(bg * 1.08), -1, cv2.LINE_AA)
    for _ in range(rng.integers(0, 12)):  # debris
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        pts = np.array([[x + rng.normal(0, 6), y + rng.normal(0, 6)] for _ in range(5)], np.int32)
        cv2.fillPoly(img, [cv2.convexHull(pts)], float(bg * rng.uniform(0.2, 0.6)))
    if well:
        wr = well * min(h, w) * rng.uniform(0.9, 1.1)
        d = np.hypot(xx - (w / 2 + rng.normal(0, 0.05 * w)), yy - (h / 2 + rng.normal(0, 0.05 * h))) - wr
        img *= 1 - 0.6 * np.clip(d / (0.04 * min(h, w)), 0, 1)  # darker outside the well
        img *= 1 - 0.25 * np.exp(-(d / (0.01 * min(h, w))) ** 2)  # its dark rim
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.5))
    img += rng.normal(0, rng.uniform(2, 6), (h, w)).astype(np.float32)
    return img.astype(np.float32), labels


def write_set(out: Path, n: int, seed: int, size: tuple[int, int] = (1000, 1000), radius: tuple[float, float] = RADIUS,
              spheroids: int = SPHEROIDS, well: float = 0.0, pale_middle: bool = False) -> list[Path]:
    """Write ``n`` scenes (seeds ``seed .. seed + n - 1``; arguments as ``ml.holdout.write_set``'s
    and ``render``'s) as ``out/images/probe_S.png|.tif`` and their label masks as
    ``out/masks/probe_S.png``; returns the image paths."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(seed, seed + n):
        img, labels = render(s, size, radius, spheroids, well, pale_middle)
        if s % 3 == 0:  # 16-bit, a narrow band of its range
            path = out / "images" / f"probe_{s}.tif"
            pixels = np.clip(img * 12 + 3000, 0, 65535).astype(np.uint16)
        else:
            path = out / "images" / f"probe_{s}.png"
            pixels = np.clip(img, 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(path), pixels) or not cv2.imwrite(str(out / "masks" / f"probe_{s}.png"), labels):
            raise OSError(f"cannot write into {out}")
        paths.append(path)
    return paths


def _radius_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX in px, got {text!r}") from None
    if not 5 <= lo <= hi <= 450:
        raise argparse.ArgumentTypeError(f"expected 5 <= MIN <= MAX <= 450, got {text!r}")
    return lo, hi


def _well_radius(text: str) -> float:
    try:
        r = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.3 <= r <= 1.0:
        raise argparse.ArgumentTypeError(f"expected 0.3-1, got {text!r}")
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (images/, masks/)")
    ap.add_argument("--n", type=int, default=30, help="number of images")
    ap.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed + i")
    ap.add_argument("--size", type=parse_size, default=(1000, 1000), help="N or HxW (default 1000)")
    ap.add_argument("--radius", type=_radius_range, default=RADIUS, metavar="MIN,MAX",
                    help="spheroid radius range, px at a 1000 px short side (default 35,170)")
    ap.add_argument("--spheroids", type=int, default=SPHEROIDS, choices=range(1, 21), metavar="N",
                    help="at most N spheroids per image, 1-20 (default 4)")
    ap.add_argument("--well", type=_well_radius, default=0.0, metavar="R",
                    help="draw a well's round edge of about R x the short side in radius, 0.3-1 (default: none)")
    ap.add_argument("--pale-middle", action="store_true",
                    help="spheroids darkest at the rim, paler toward the middle (out of focus or hollow)")
    args = ap.parse_args(argv)
    paths = write_set(args.out, args.n, args.seed, args.size, args.radius, args.spheroids, args.well, args.pale_middle)
    print(f"{len(paths)} images in {args.out / 'images'}, label masks in {args.out / 'masks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
