"""Polygon helpers shared by the engine, evaluation and exports (numpy + OpenCV).

Coordinate convention: ``[x, y]`` in image pixels, a vertex on the centre of a boundary pixel
(the convention of OpenCV contours), so ``rasterize(outlines(mask)) == mask``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["polygon_area", "signed_area", "rasterize", "as_ring"]


def as_ring(points) -> np.ndarray:
    a = np.asarray(points, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        a = a.reshape(-1, 2)
    if len(a) > 1 and np.array_equal(a[0], a[-1]):
        a = a[:-1]  # drop an explicit closing vertex
    return a


def signed_area(ring) -> float:
    """Shoelace area; positive for counter-clockwise rings in a y-up frame."""
    a = as_ring(ring)
    if len(a) < 3:
        return 0.0
    x, y = a[:, 0], a[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygon_area(ring) -> float:
    """Area enclosed by one ring (no holes), in px²."""
    return abs(signed_area(ring))


def _polygon_parts(poly):
    if isinstance(poly, dict):
        return poly["exterior"], poly.get("holes") or []
    if isinstance(poly, (tuple, list)) and len(poly) == 2 and not np.isscalar(poly[0]) and np.asarray(poly[0]).ndim == 2:
        return poly[0], poly[1]
    return poly, []


def rasterize(polygons: Sequence | Iterable, height: int, width: int) -> np.ndarray:
    """Label mask (uint16, 0 = background, 1..N in input order) from polygons.

    Each polygon is a dict ``{"exterior": [[x, y], ...], "holes": [...]}``, a tuple
    ``(exterior, holes)`` or a bare exterior ring. Holes are cleared for their own object only:
    an object drawn earlier that lies inside another object's hole (an island) is kept.
    """
    import cv2

    out = np.zeros((int(height), int(width)), np.uint16)
    for idx, poly in enumerate(polygons, start=1):
        ext, holes = _polygon_parts(poly)
        ext = as_ring(ext)
        if len(ext) < 1:
            continue
        x0 = max(0, int(np.floor(ext[:, 0].min())) - 1)
        y0 = max(0, int(np.floor(ext[:, 1].min())) - 1)
        x1 = min(width, int(np.ceil(ext[:, 0].max())) + 2)
        y1 = min(height, int(np.ceil(ext[:, 1].max())) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        off = np.array([x0, y0], np.float64)
        cv2.fillPoly(m, [np.round((ext - off) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        hole_rings = [np.round((as_ring(h) - off) * 16).astype(np.int32) for h in holes if len(as_ring(h)) >= 3]
        if hole_rings:
            hm = np.zeros_like(m)
            cv2.fillPoly(hm, hole_rings, 1, cv2.LINE_8, shift=4)
            # hole boundary pixels belong to the object (its contour runs through them)
            hb = np.zeros_like(m)
            cv2.polylines(hb, hole_rings, True, 1, 1, cv2.LINE_8, shift=4)
            m[(hm > 0) & (hb == 0)] = 0
        view = out[y0:y1, x0:x1]
        view[m > 0] = idx
    return out
