"""Per-object measurements: one implementation, in px and in µm when a pixel size is given.

Pure numpy. ``measure(exterior, holes)`` takes polygons in image pixels (``[[x, y], ...]``).
Holes belong to their own object only: area = exterior area minus the holes' areas; the
perimeter is the exterior's. A value that cannot be computed (degenerate polygon, zero
perimeter, ...) is ``None``, never invented. See ``ml/README.md`` for the key list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ml.geometry import as_ring, polygon_area

__all__ = ["measure", "polygon_area", "convex_hull", "feret_diameters", "LENGTH_KEYS", "AREA_KEYS"]

LENGTH_KEYS = ("perimeter", "equivalent_diameter", "feret_max", "feret_min", "ellipse_major", "ellipse_minor")
AREA_KEYS = ("area",)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain; counter-clockwise (y-up) hull without repeated endpoint."""
    pts = np.unique(np.asarray(points, np.float64), axis=0)
    if len(pts) < 3:
        return pts
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(tuple(p))
    upper: list = []
    for p in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(tuple(p))
    return np.array(lower[:-1] + upper[:-1], np.float64)


def _perimeter(ring: np.ndarray) -> float:
    if len(ring) < 2:
        return 0.0
    d = np.diff(np.vstack([ring, ring[:1]]), axis=0)
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


def feret_diameters(hull: np.ndarray) -> tuple[float | None, float | None]:
    """(max, min) caliper widths of a convex polygon (rotating calipers).

    Max: the largest distance between two hull vertices (antipodal pair). Min: the smallest
    width over all caliper directions, attained with one caliper flush with a hull edge.
    """
    h = np.asarray(hull, np.float64)
    if len(h) < 2:
        return None, None
    diff = h[:, None, :] - h[None, :, :]
    fmax = float(np.sqrt((diff ** 2).sum(-1)).max())
    if len(h) < 3:
        return fmax, 0.0
    e = np.roll(h, -1, axis=0) - h
    el = np.hypot(e[:, 0], e[:, 1])
    ok = el > 0
    e, el, base = e[ok], el[ok], h[ok]
    # distance of every hull vertex to every edge line; width = farthest vertex per edge
    rel = h[None, :, :] - base[:, None, :]
    dist = np.abs(e[:, None, 0] * rel[..., 1] - e[:, None, 1] * rel[..., 0]) / el[:, None]
    fmin = float(dist.max(axis=1).min())
    return fmax, fmin


def _moments(ring: np.ndarray):
    """Area moments (m00, m10, m01, m20, m11, m02) of a simple polygon, sign-corrected."""
    x, y = ring[:, 0], ring[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    c = x * yn - xn * y
    m00 = c.sum() / 2
    m10 = ((x + xn) * c).sum() / 6
    m01 = ((y + yn) * c).sum() / 6
    m20 = ((x * x + x * xn + xn * xn) * c).sum() / 12
    m02 = ((y * y + y * yn + yn * yn) * c).sum() / 12
    m11 = ((x * yn + 2 * x * y + 2 * xn * yn + xn * y) * c).sum() / 24
    s = 1.0 if m00 >= 0 else -1.0
    return np.array([m00, m10, m01, m20, m11, m02]) * s


def _r(v, nd=6):
    if v is None:
        return None
    v = float(v)
    if not math.isfinite(v):
        return None
    return round(v, nd)


def measure(exterior, holes: Iterable = (), *, pixel_size_um: float | None = None) -> dict:
    """All measurements of one object (exterior ring + its own holes)."""
    ext = as_ring(exterior)
    hole_rings = [as_ring(h) for h in (holes or ()) if len(as_ring(h)) >= 3]
    out: dict = {k: None for k in (
        "area_px", "perimeter_px", "equivalent_diameter_px", "circularity", "sphericity", "convexity",
        "solidity", "extent", "feret_max_px", "feret_min_px", "feret_ratio", "ellipse_major_px",
        "ellipse_minor_px", "eccentricity", "orientation_deg", "centroid_x", "centroid_y", "bbox",
        "holes")}
    out["holes"] = len(hole_rings)
    if len(ext) >= 1:
        x0, y0 = ext.min(axis=0)
        x1, y1 = ext.max(axis=0)
        out["bbox"] = [_r(x0, 3), _r(y0, 3), _r(x1 - x0, 3), _r(y1 - y0, 3)]
    if len(ext) < 3:
        return _with_um(out, pixel_size_um)

    ext_area = polygon_area(ext)
    hole_area = sum(polygon_area(h) for h in hole_rings)
    area = ext_area - hole_area
    perim = _perimeter(ext)
    hull = convex_hull(ext)
    hull_area = polygon_area(hull) if len(hull) >= 3 else 0.0
    hull_perim = _perimeter(hull) if len(hull) >= 2 else 0.0
    bw, bh = (out["bbox"][2] or 0.0), (out["bbox"][3] or 0.0)

    if area > 0:
        out["area_px"] = _r(area, 4)
        d_eq = 2.0 * math.sqrt(area / math.pi)
        out["equivalent_diameter_px"] = _r(d_eq, 4)
        if perim > 0:
            out["perimeter_px"] = _r(perim, 4)
            out["circularity"] = _r(4 * math.pi * area / perim ** 2)
            out["sphericity"] = _r(math.pi * d_eq / perim)
        if hull_area > 0:
            out["solidity"] = _r(area / hull_area)
        if bw * bh > 0:
            out["extent"] = _r(area / (bw * bh))
    elif perim > 0:
        out["perimeter_px"] = _r(perim, 4)
    if perim > 0 and hull_perim > 0:
        out["convexity"] = _r(hull_perim / perim)

    if len(hull) >= 2:
        fmax, fmin = feret_diameters(hull)
        out["feret_max_px"] = _r(fmax, 4)
        out["feret_min_px"] = _r(fmin, 4)
        if fmax and fmin is not None and fmax > 0:
            out["feret_ratio"] = _r(fmin / fmax)

    m = _moments(ext)
    for h in hole_rings:
        m = m - _moments(h)
    if m[0] > 0:
        cx, cy = m[1] / m[0], m[2] / m[0]
        out["centroid_x"], out["centroid_y"] = _r(cx, 4), _r(cy, 4)
        mu20 = m[3] / m[0] - cx * cx
        mu02 = m[5] / m[0] - cy * cy
        mu11 = m[4] / m[0] - cx * cy
        tr = mu20 + mu02
        det_term = math.sqrt(max(0.0, ((mu20 - mu02) / 2) ** 2 + mu11 ** 2))
        l1, l2 = tr / 2 + det_term, tr / 2 - det_term
        if l1 > 0:
            out["ellipse_major_px"] = _r(4 * math.sqrt(l1), 4)
            out["ellipse_minor_px"] = _r(4 * math.sqrt(max(l2, 0.0)), 4)
            out["eccentricity"] = _r(math.sqrt(max(0.0, 1 - max(l2, 0.0) / l1)))
            if det_term > 1e-12 * max(tr, 1e-300):
                # image coordinates have y down: report counter-clockwise-on-screen degrees
                ang = -0.5 * math.degrees(math.atan2(2 * mu11, mu20 - mu02))
                if ang <= -90:
                    ang += 180
                elif ang > 90:
                    ang -= 180
                out["orientation_deg"] = _r(ang + 0.0, 4)
    return _with_um(out, pixel_size_um)


def _with_um(out: dict, pixel_size_um: float | None) -> dict:
    if pixel_size_um is None:
        return out
    s = float(pixel_size_um)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError("pixel_size_um must be a positive number")
    out["pixel_size_um"] = s
    a = out.get("area_px")
    out["area_um2"] = None if a is None else _r(a * s * s, 4)
    for k in LENGTH_KEYS:
        v = out.get(f"{k}_px")
        out[f"{k}_um"] = None if v is None else _r(v * s, 4)
    cx, cy = out.get("centroid_x"), out.get("centroid_y")
    out["centroid_x_um"] = None if cx is None else _r(cx * s, 4)
    out["centroid_y_um"] = None if cy is None else _r(cy * s, 4)
    return out


def border_edges(xs, ys, width: int, height: int) -> np.ndarray:
    """Per point, a bit mask of the image edges it lies on (1 px): 1 left, 2 top, 4 right,
    8 bottom (a corner: two bits). The one border test of the engine."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    return ((xs <= 1).astype(np.int64) | (ys <= 1) << 1 | (xs >= width - 2) << 2
            | (ys >= height - 2) << 3)


def touches_border(bbox, width: int, height: int) -> bool:
    """Whether a measured ``bbox`` ([x, y, width, height]) reaches the image border (1 px)."""
    if not bbox:
        return False
    x, y, w, h = bbox
    return bool(border_edges([x, x + w], [y, y + h], width, height).any())


def measure_polygons(polygons: Sequence[dict], pixel_size_um: float | None = None) -> list[dict]:
    """Metrics for each ``{"exterior", "holes"}`` polygon (same implementation as the engine)."""
    return [measure(p["exterior"], p.get("holes") or (), pixel_size_um=pixel_size_um) for p in polygons]
