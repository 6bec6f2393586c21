"""Completion of partly outlined bodies (U-Net models, after the floors).

A pale, partly translucent spheroid beside dark ones is marked by the network, and kept by the
threshold refinement (``ml.refine``), only at its darker part: the threshold half-way between
that part and the background cuts through the body. Such a partial outline is concave. For
each reported object whose solidity is below ``MAX_SOLIDITY``, a marker watershed on the
gradient magnitude of the smoothed full-resolution image (``scipy.ndimage.watershed_ift``),
in a window around the object, finds the edge the object floods to:

- markers: every object's core (eroded by ``CORE`` x its equivalent radius), and as
  background every pixel farther than ``REACH`` x the radius from the object (when that gives
  no completion, again with ``WIDER_REACH``: a dark part under half of its body leaves the pale
  part's far rim beyond ``REACH``, and flooding from there takes the pale part), plus the
  brightest ``100 - BRIGHT_PERCENTILE`` % of the free pixels near it (the darkest, for light
  objects on a dark background): the flat gaps between bodies, where flooding has no edge to
  stop at;
- smoothing: sigma ``SIGMA_PER_RADIUS`` x the radius (1-8 px);
- an object of equivalent radius over ``WORK_RADIUS`` is completed on its window shrunk to that
  radius (smoothing shrunk with it) and its new mask enlarged back: the watershed's cost stays
  bounded on large images;
- the flooded region is opened (radius ``OPEN`` x its radius: tabs along a flat stretch of
  the watershed line), keeps its main piece and its enclosed holes filled, and never takes
  another object's pixels.

The new region replaces the object only when it is larger (``MIN_GROWTH``-``MAX_GROWTH`` x its
area), solid (``MIN_SOLIDITY``, and ``MIN_GAIN`` more than before), and the part of its outline
that moved (farther than ``MOVED`` x the radius, at least 2 px, from the old outline: the new one
leaves it over more pixels the more pixels the body has) lies on an edge at least
``MIN_EDGE_RATIO`` x as strong (mean gradient magnitude) as the part of the old outline it
replaces: the rim of the whole body rather than the line between its dark and pale parts, not a
line through a halo of loose cells instead of a body's edge.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from ml.postprocess import label_pieces, mask_solidity
from ml.refine import _enclosed, _open

__all__ = ["complete_bodies"]

MAX_SOLIDITY = 0.93  # objects less solid than this are candidates
MIN_SOLIDITY = 0.85  # the completed object must be at least this solid
MIN_GAIN = 0.03  # and this much more solid than before
MIN_EDGE_RATIO = 1.0  # the moved part of its outline on an edge at least this x as strong as the part it replaces
MOVED = 0.05  # a part of the outline moved when farther than this x the radius (at least 2 px) from the other outline
MIN_GROWTH = 1.15  # its area this many times the old one at least
MAX_GROWTH = 3.0  # and at most
CORE = 0.15  # marker: the object eroded by this x its equivalent radius
REACH = 1.5  # background marker: farther than this x the radius from the object
WIDER_REACH: float | None = 1.75  # tried when REACH gives no completion (None: not tried)
BRIGHT_PERCENTILE = 85.0  # background marker: the free pixels near the object brighter than this
SIGMA_PER_RADIUS = 0.035
OPEN = 0.1
MIN_AREA_PX = 50
WORK_RADIUS = 150  # a larger object is completed on its window shrunk to this radius (bounds the watershed)


def complete_bodies(gray: np.ndarray, labels: np.ndarray,
                    only: set[int] | None = None) -> dict[int, tuple[int, int, np.ndarray]]:
    """``{label: (y0, x0, mask)}`` for the objects of ``labels`` (0 = background, 1..N, full
    resolution) whose outline the completion replaces; ``mask`` is the new object in the window
    starting at ``(y0, x0)``. ``only``: the labels that may be completed (all by default); every
    object takes part as a marker."""
    labels = np.asarray(labels)
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return {}
    h, w = labels.shape
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    boxes = ndi.find_objects(labels)
    out = {}
    for k in range(1, n + 1):
        if (only is not None and k not in only) or areas[k] < MIN_AREA_PX or boxes[k - 1] is None:
            continue
        ys, xs = boxes[k - 1]
        own = labels[ys, xs] == k
        if mask_solidity(own) >= MAX_SOLIDITY:
            continue
        r = float(np.sqrt(areas[k] / np.pi))
        f = min(1.0, WORK_RADIUS / r)
        for reach in (REACH,) if WIDER_REACH is None else (REACH, WIDER_REACH):
            pad = int(np.ceil(reach * r)) + 2
            y0, y1 = max(0, ys.start - pad), min(h, ys.stop + pad)
            x0, x1 = max(0, xs.start - pad), min(w, xs.stop + pad)
            sub = labels[y0:y1, x0:x1]
            if f < 1:  # shrunk: the same steps on a window of bounded size, the result enlarged back
                size = (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f)))
                small = _complete_one(cv2.resize(gray[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA),
                                      cv2.resize(sub, size, interpolation=cv2.INTER_NEAREST), k, r * f,
                                      areas * f * f, reach, sigma=_sigma(r) * f)
                new = None if small is None else (
                    cv2.resize(small.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= 0.5)
                if new is not None:
                    new &= (sub == 0) | (sub == k)
            else:
                new = _complete_one(gray[y0:y1, x0:x1], sub, k, r, areas, reach)
            if new is not None:
                out[k] = (y0, x0, new)
                break
    return out


def _sigma(r: float) -> float:
    """Smoothing of the image for an object of equivalent radius ``r``."""
    return float(np.clip(SIGMA_PER_RADIUS * r, 1.0, 8.0))


def _complete_one(gray: np.ndarray, sub: np.ndarray, k: int, r: float, areas: np.ndarray,
                  reach: float = REACH, sigma: float | None = None) -> np.ndarray | None:
    old = sub == k
    markers = np.zeros(sub.shape, np.int32)
    for j in np.unique(sub):
        if j == 0:
            continue
        m = sub == j
        core = cv2.distanceTransform(np.pad(m.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1] > \
            CORE * np.sqrt(areas[j] / np.pi)
        markers[core if core.any() else m] = j
    near = cv2.distanceTransform((~old).astype(np.uint8), cv2.DIST_L2, 5) <= reach * r
    bg = int(areas.shape[0])  # a label no object has
    markers[~near] = bg
    sigma = _sigma(r) if sigma is None else max(sigma, 0.5)
    gs = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), sigma)
    free = near & (markers == 0)
    if free.any():
        if np.median(gs[markers == k]) <= np.median(gs[free]):  # dark objects on a light background
            markers[free & (gs >= np.percentile(gs[free], BRIGHT_PERCENTILE))] = bg
        else:
            markers[free & (gs <= np.percentile(gs[free], 100 - BRIGHT_PERCENTILE))] = bg
    gm = np.hypot(cv2.Sobel(gs, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gs, cv2.CV_32F, 0, 1, ksize=3))
    relief = np.clip(gm * (65535.0 / max(float(np.percentile(gm, 99.9)), 1e-6)), 0, 65535).astype(np.uint16)
    flooded = ndi.watershed_ift(relief, markers)
    new = cv2.dilate((flooded == k).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # the watershed line
    new &= (sub == 0) | old
    if not MIN_GROWTH * areas[k] <= new.sum() <= MAX_GROWTH * areas[k]:
        return None
    ro = OPEN * np.sqrt(new.sum() / np.pi)
    if ro >= 1:
        new = (_open(new.astype(np.uint8), ro) > 0) | (markers == k)
    n_parts, parts, stats = label_pieces(new.astype(np.uint8))
    if n_parts > 2:
        new = parts == (1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])))
    new |= _enclosed(new.astype(np.uint8))
    new &= (sub == 0) | old
    s_old, s_new = mask_solidity(old), mask_solidity(new)
    if s_new < MIN_SOLIDITY or s_new < s_old + MIN_GAIN:
        return None
    e_new, e_old = _moved_edge_strengths(gm, new, old, margin=max(2, round(MOVED * r)))
    if e_new < MIN_EDGE_RATIO * e_old:
        return None
    return new


def _outline(m: np.ndarray) -> np.ndarray:
    """The outline pixels of ``m`` (the window's edge is no outline)."""
    m8 = m.astype(np.uint8)
    return (m8 > 0) & (cv2.erode(m8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) == 0)


def _moved_edge_strengths(gm: np.ndarray, new: np.ndarray, old: np.ndarray, margin: int) -> tuple[float, float]:
    """Mean gradient magnitude on the part of the new outline that moved (more than ``margin`` px
    from the old one) and on the part of the old outline it replaces; the whole outlines when
    either part is empty."""
    line_new, line_old = _outline(new), _outline(old)
    k = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    moved_new = line_new & (cv2.dilate(line_old.astype(np.uint8), k) == 0)
    moved_old = line_old & (cv2.dilate(line_new.astype(np.uint8), k) == 0)
    if not moved_new.any() or not moved_old.any():
        moved_new, moved_old = line_new, line_old
    if not moved_new.any() or not moved_old.any():
        return 0.0, 1.0
    return float(gm[moved_new].mean()), float(gm[moved_old].mean())
