"""Boundary refinement at full resolution (applied to every model's probability map).

A model sees the image at a reduced working size, so its outline is only as precise as a few
full-resolution pixels and tends to sit inside a soft, fuzzy rim, or, for a grey body or a big
spheroid with a pale periphery, at its darker middle. For each object of the coarse mask
(``prob >= threshold``) the refinement re-decides, on the smoothed full-resolution grey image,
the pixels from ``band`` px inside the coarse outline to ``reach`` px outside it:

- ``band`` is the given band (set by the model's scale) or, for a large object,
  ``BAND_PER_RADIUS`` x its equivalent radius (at most ``MAX_BAND`` px); pixels deeper than
  ``band`` inside stay foreground;
- ``reach`` is ``REACH_PER_RADIUS`` x the equivalent radius (at least ``band``, at most
  ``MAX_REACH`` px); pixels farther out stay background;
- the interior level is the median grey of the ring ``band..2*band`` px inside, the background
  level the median of the ring ``reach..reach+band`` px outside (other objects excluded);
- the edge is a level between them: half-way (the half-maximum of a fuzzy rim), or lower,
  nearer the background (0.35, 0.25 of the way), when the outline at that level runs along a
  stronger edge (mean grey-level gradient on it at least ``LEVEL_MARGIN`` higher): the sharp
  outer rim of a pale periphery rather than a line through it.

Each candidate is opened (drops loose cells stuck to the rim) and keeps only the pieces that
hold the interior; holes left by the threshold are filled, and refined objects never touch an
object they were not touching before. An object that grew by ``REPEAT_GROWTH`` x its area or
more is re-decided from its new outline (a larger reach, a background ring farther out), at
most ``REPEATS`` more times: a grey body the model marks only at its darker middle reaches its
rim step by step. With ``stop_at_border``, a repeated pass that would carry an outline to the
image border it did not touch is refused: a dark vignetted corner or the edge of a well beside
a spheroid runs off the image (the engine asks for it with a network's map, whose outline of a
body cut by the border reaches the border; the classical map's often stops short of it). With
``max_solidity_drop``, so is a repeated pass that would leave the object less solid by more
than that: a leak along a dark tail, a vignetted edge or into a halo, not the body's rim. With
``nearest_only``, an object re-decides only pixels nearer to it than to any other object (of
``min_area_px`` or more): refined first because it is larger, a dark spheroid would otherwise
take the unmarked rim of a grey one it touches. With ``clear_of``, objects found otherwise (a
rescued body refined alone beside a spheroid the model found) are neighbours too: never merged
with. Objects with too little contrast between the two rings
(as when the outer ring still lies inside the body), or too small to have an interior ring,
keep their coarse outline.
"""

from __future__ import annotations

import cv2
import numpy as np

from ml.metrics import border_edges
from ml.postprocess import label_pieces, mask_solidity

__all__ = ["refine_mask", "band_for_scale"]

BAND_PER_RADIUS = 0.15  # a large object's band grows with it: 0.15 x its equivalent radius
MAX_BAND = 48
REACH_PER_RADIUS = 0.6  # how far outside its coarse outline an object may grow (x its equivalent radius)
MAX_REACH = 128
EDGE_LEVELS = (0.5, 0.35, 0.25)  # candidate edges: fractions of the way from background to interior level
LEVEL_MARGIN = 0.1  # a lower level must have a stronger edge by this fraction to be chosen
REPEATS = 2  # an object that grew by REPEAT_GROWTH x its area is re-decided again, at most this many times
REPEAT_GROWTH = 1.2
_K3 = np.ones((3, 3), np.uint8)


def band_for_scale(scale: float) -> int:
    """Refinement band (full-resolution px) for a model run at ``scale`` x the image size."""
    return int(np.clip(round(3.0 / max(scale, 1e-3)), 3, 24))


def refine_mask(gray: np.ndarray, prob: np.ndarray, threshold: float, *, band: int, min_area_px: int = 0,
                sigma: float | None = None, min_contrast: float = 0.08,
                edge_levels: tuple[float, ...] = EDGE_LEVELS, nearest_only: bool = False,
                stop_at_border: bool = False, max_solidity_drop: float | None = None,
                clear_of: np.ndarray | None = None) -> np.ndarray:
    """Coarse ``prob >= threshold`` -> refined uint8 mask (same shape) whose outlines follow the image.

    ``gray``: normalised grey image (float32 HxW in [0, 1]) at the same size as ``prob``.
    Objects below ``min_area_px`` are left as they are (refinement must not grow them past it).
    ``clear_of``: objects found otherwise (a mask, not refined) that the refined ones never
    merge with, as with each other; they stay in the background ring (a neighbour the model
    marked may be a halo of loose cells, the local background of a body in it).
    """
    fg = (prob >= threshold).astype(np.uint8)
    if band < 1 or not fg.any():
        return fg
    sigma = float(np.clip(band / 4.0, 1.0, 4.0)) if sigma is None else sigma
    gs = cv2.GaussianBlur(gray.astype(np.float32, copy=False), (0, 0), sigma)
    clear_of = None if clear_of is None or not clear_of.any() else (clear_of > 0) & (fg == 0)
    out, grown = _refine_pass(gs, fg, None, band, min_area_px, min_contrast, edge_levels, nearest_only,
                              clear_of=clear_of)
    for _ in range(REPEATS):
        if not grown.any():
            break
        out, grown = _refine_pass(gs, out, grown, band, min_area_px, min_contrast, edge_levels, nearest_only,
                                  stop_at_border, max_solidity_drop, clear_of)
    return out


def _refine_pass(gs, fg, only, scale_band, min_area_px, min_contrast, edge_levels, nearest_only=False,
                 stop_at_border=False, max_solidity_drop=None, clear_of=None):
    """One pass over the objects of ``fg`` (those touching ``only`` when given): the refined mask
    and where the objects that grew by ``REPEAT_GROWTH`` or more now lie. With ``nearest_only`` an
    object re-decides only pixels nearer to it than to any other object. An object keeps its
    outline where the new one would reach the image border and it did not (``stop_at_border``),
    or would be less solid by more than ``max_solidity_drop``, and never merges with
    ``clear_of``."""
    n, lab, stats = label_pieces(fg)
    H, W = fg.shape
    out = fg.copy()
    grown = np.zeros_like(fg, dtype=bool)
    todo = range(1, n) if only is None else np.setdiff1d(np.unique(lab[only]), [0])
    objects = stats[:, 4] >= max(1, min_area_px)  # specks below the minimum area claim no room
    objects[0] = False
    # largest objects first: they have the most reliable interior/background estimates
    for i in sorted(todo, key=lambda j: -int(stats[j, 4])):
        x, y, w, h, area = (int(v) for v in stats[i])
        r_eq = np.sqrt(area / np.pi)
        band = int(np.clip(round(BAND_PER_RADIUS * r_eq), scale_band, max(scale_band, MAX_BAND)))
        if area < max(min_area_px, 4 * band * band):
            continue
        reach = int(np.clip(round(REACH_PER_RADIUS * r_eq), band, max(band, MAX_REACH)))
        pad = reach + band + 2
        r_open = max(1, band // 3)
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
        comp = (lab[y0:y1, x0:x1] == i).astype(np.uint8)
        others = ((out[y0:y1, x0:x1] > 0) & (comp == 0)).astype(np.uint8)
        din = cv2.distanceTransform(np.pad(comp, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        dout = cv2.distanceTransform(1 - comp, cv2.DIST_L2, 5)
        g = gs[y0:y1, x0:x1]
        inner = (din > band) & (din <= 2 * band)
        outer = (dout > reach) & (dout <= reach + band)
        if others.any():
            outer &= cv2.distanceTransform(1 - others, cv2.DIST_L2, 5) > band
        if inner.sum() < 20 or outer.sum() < 20:
            continue
        gi, go = float(np.median(g[inner])), float(np.median(g[outer]))
        if abs(go - gi) < min_contrast:
            continue
        core = din > band
        in_band = (din > 0) | (dout <= reach)
        if nearest_only:
            theirs = objects[lab[y0:y1, x0:x1]] & (comp == 0)
            if theirs.any():
                in_band &= dout < cv2.distanceTransform((~theirs).astype(np.uint8), cv2.DIST_L2, 5)
        new = _edge_outline(g, gi, go, core, in_band, r_open, min_area_px, edge_levels)
        holes = _enclosed(new) & (comp > 0)
        new[holes] = 1
        if stop_at_border and _on_image_border(new, x0, y0, W, H) and not _on_image_border(comp, x0, y0, W, H):
            continue
        if max_solidity_drop is not None and mask_solidity(new) < mask_solidity(comp) - max_solidity_drop:
            continue
        if clear_of is not None:
            others |= clear_of[y0:y1, x0:x1]
        if others.any():
            new[cv2.dilate(others, _K3) > 0] = 0  # never merge with a neighbour
        sub = out[y0:y1, x0:x1]
        sub[comp > 0] = 0
        sub |= new
        if new.sum() >= REPEAT_GROWTH * area:
            grown[y0:y1, x0:x1] |= new > 0
    return out, grown


def _edge_outline(g, gi, go, core, in_band, r_open, min_area_px, levels) -> np.ndarray:
    """The object re-decided (``_redecide``) at the first of ``levels``, unless a later level's
    outline runs along a stronger edge, by ``LEVEL_MARGIN``, where the refinement may move it."""
    dark = gi < go
    if len(levels) == 1:
        return _redecide(g, go + levels[0] * (gi - go), dark, core, in_band, r_open, min_area_px)
    movable = in_band & ~core
    gy, gx = np.gradient(g)
    edge_strength = np.hypot(gx, gy)
    best, best_score = None, -1.0
    for level in levels:
        cand = _redecide(g, go + level * (gi - go), dark, core, in_band, r_open, min_area_px)
        rim = (cand > 0) & ~(cv2.erode(cand, _K3) > 0) & movable  # its outline where it may move
        score = float(edge_strength[rim].mean()) if rim.any() else 0.0
        if score > best_score * (1 + LEVEL_MARGIN):
            best, best_score = cand, score
    return best


def _redecide(g, t, dark_object, core, in_band, r_open, min_area_px) -> np.ndarray:
    """Core plus the band's pixels on the object's side of level ``t``, opened (loose cells at the
    rim drop off); only the pieces holding the core are kept."""
    like = (g < t) if dark_object else (g > t)
    new = (core | (in_band & like)).astype(np.uint8)
    new = _open(new, r_open) | core.astype(np.uint8)
    k, cl = cv2.connectedComponents(new, connectivity=8)
    if k > 2:
        area = np.bincount(cl.ravel(), minlength=k)
        keep = np.zeros(k, bool)
        keep[np.unique(cl[core])] = True
        keep &= area >= max(min_area_px, 0.1 * area[1:].max())
        keep[0] = False
        new = keep[cl].astype(np.uint8)
    return new


def _on_image_border(mask: np.ndarray, x0: int, y0: int, W: int, H: int) -> bool:
    """Whether ``mask``, a crop at (``x0``, ``y0``) of a ``W`` x ``H`` image, reaches the image
    border (``ml.metrics.border_edges`` on its bounding box)."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return False
    return bool(border_edges([x0 + xs.min(), x0 + xs.max()], [y0 + ys.min(), y0 + ys.max()], W, H).any())


def _open(mask: np.ndarray, r: int) -> np.ndarray:
    """Morphological opening of a uint8 mask by a disc of radius ``r`` (two distance transforms:
    cost independent of ``r``)."""
    eroded = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 5)[1:-1, 1:-1] > r
    return (cv2.distanceTransform((~eroded).astype(np.uint8), cv2.DIST_L2, 5) <= r).astype(np.uint8)


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
