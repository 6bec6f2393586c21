"""Boundary refinement at full resolution (applied to every model's probability map).

A model sees the image at a reduced working size, so its outline is only as precise as a few
full-resolution pixels and tends to sit inside a soft, fuzzy rim. For each object of the coarse
mask (``prob >= threshold``) the refinement looks at the smoothed full-resolution grey image in
a band of ``band`` px on both sides of the coarse outline and re-decides those pixels with the
object's own local threshold: half-way between the object's interior level (median grey of the
ring ``band..2*band`` px inside) and its surrounding background level (median of the ring
``band..2*band`` px outside, other objects excluded) — the "half-maximum" edge of the rim.
Pixels deeper than ``band`` inside stay foreground, pixels farther than ``band`` outside stay
background, so a refined outline moves at most ``band`` px. ``band`` is the given band (set by
the model's scale) or, for a large object, ``BAND_PER_RADIUS`` x its equivalent radius (at most
``MAX_BAND`` px): a big spheroid's pale periphery can lie well outside the model's outline.
Objects with too little contrast between inside and outside, or too small to have an interior
ring, keep their coarse outline.
The band is then opened (drops loose cells stuck to the rim), holes left by the threshold are
filled, and refined objects never touch an object they were not touching before.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["refine_mask", "band_for_scale"]

BAND_PER_RADIUS = 0.15  # a large object's band grows with it: 0.15 x its equivalent radius
MAX_BAND = 48


def band_for_scale(scale: float) -> int:
    """Refinement band (full-resolution px) for a model run at ``scale`` x the image size."""
    return int(np.clip(round(3.0 / max(scale, 1e-3)), 3, 24))


def refine_mask(gray: np.ndarray, prob: np.ndarray, threshold: float, *, band: int, min_area_px: int = 0,
                sigma: float | None = None, min_contrast: float = 0.08) -> np.ndarray:
    """Coarse ``prob >= threshold`` -> refined uint8 mask (same shape) whose outlines follow the image.

    ``gray``: normalised grey image (float32 HxW in [0, 1]) at the same size as ``prob``.
    Objects below ``min_area_px`` are left as they are (refinement must not grow them past it).
    """
    fg = (prob >= threshold).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1 or band < 1:
        return fg
    sigma = float(np.clip(band / 4.0, 1.0, 4.0)) if sigma is None else sigma
    gs = cv2.GaussianBlur(gray.astype(np.float32, copy=False), (0, 0), sigma)
    H, W = fg.shape
    out = fg.copy()
    k_gap = np.ones((3, 3), np.uint8)
    scale_band = band
    # largest objects first: they have the most reliable interior/background estimates
    for i in sorted(range(1, n), key=lambda j: -int(stats[j, 4])):
        x, y, w, h, area = (int(v) for v in stats[i])
        band = int(np.clip(round(BAND_PER_RADIUS * np.sqrt(area / np.pi)), scale_band, max(scale_band, MAX_BAND)))
        if area < max(min_area_px, 4 * band * band):
            continue
        pad = 2 * band + 2
        r_open = max(1, band // 3)
        k_open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_open + 1, 2 * r_open + 1))
        k_band = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
        comp = (lab[y0:y1, x0:x1] == i).astype(np.uint8)
        others = ((out[y0:y1, x0:x1] > 0) & (comp == 0)).astype(np.uint8)
        din = cv2.distanceTransform(np.pad(comp, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        dout = cv2.distanceTransform(1 - comp, cv2.DIST_L2, 5)
        g = gs[y0:y1, x0:x1]
        inner = (din > band) & (din <= 2 * band)
        near_others = cv2.dilate(others, k_band) > 0
        outer = (dout > band) & (dout <= 2 * band) & ~near_others
        if inner.sum() < 20 or outer.sum() < 20:
            continue
        gi, go = float(np.median(g[inner])), float(np.median(g[outer]))
        if abs(go - gi) < min_contrast:
            continue
        t = 0.5 * (gi + go)
        like = (g < t) if gi < go else (g > t)
        core = din > band
        in_band = (din > 0) | (dout <= band)
        new = (core | (in_band & like)).astype(np.uint8)
        new = cv2.morphologyEx(new, cv2.MORPH_OPEN, k_open) | core.astype(np.uint8)
        # keep the pieces that hold the core (not slivers cut off by the opening), fill holes
        k, cl, st, _ = cv2.connectedComponentsWithStats(new, connectivity=8)
        if k > 2:
            keep = np.zeros(k, bool)
            keep[np.unique(cl[core])] = True
            keep &= st[:, 4] >= max(min_area_px, 0.1 * st[1:, 4].max())
            keep[0] = False
            new = keep[cl].astype(np.uint8)
        holes = _enclosed(new) & (comp > 0)
        new[holes] = 1
        new[cv2.dilate(others, k_gap) > 0] = 0  # never merge with a neighbour
        sub = out[y0:y1, x0:x1]
        sub[comp > 0] = 0
        sub |= new
    return out


def _enclosed(mask: np.ndarray) -> np.ndarray:
    """Background pixels of ``mask`` not connected to the crop border."""
    inv = (mask == 0).astype(np.uint8)
    k, lab = cv2.connectedComponents(inv, connectivity=4)
    if k <= 1:
        return np.zeros(mask.shape, bool)
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    enc = np.ones(k, bool)
    enc[border] = False
    enc[0] = False
    return enc[lab]
