"""Probability map -> separate measured objects (shared by the U-Net and the classical model).

threshold (or a refined mask) -> fill small holes -> drop objects below ``min_area_px`` -> split touching
spheroids (seeds from the contact head and/or peaks of the distance transform of the component
with its holes filled, with a saddle test;
peaks joined by a wider neck are split only when every piece comes out convex, then a
watershed restricted to each component) -> outlines with holes (contour hierarchy,
holes attached to their own object; an island inside a hole is its own object) -> polygon
simplification (Douglas-Peucker, ~1 px) -> confidence (mean probability over the part of the
object the model itself marks, ``prob >= threshold``: a refined outline that grows into the
model's soft rim does not lower it).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

__all__ = ["instances", "split_touching", "outlines", "fill_small_holes", "label_pieces"]

SPLIT_SIZE = 256  # objects larger than this (px) are split on a downscaled copy
# Touching spheroids whose neck is too wide for the saddle test are still split when the split
# explains the outline's concavity: peaks kept apart at this looser saddle ratio, and every piece
# at least CONVEX_MIN solid with at most CONVEX_GAIN of the whole's convexity deficit left.
CONVEX_RATIO = 0.85
CONVEX_MIN = 0.85
CONVEX_GAIN = 0.5
# Touching spheroids pressed together show no neck in the distance map, only two concave points
# on the outline: a straight cut between two deep concavities is taken when it explains the
# concavity as above and is shorter than CUT_MAX_WIDTH x the smaller piece's equivalent
# diameter (a neck, not a bump cut off a body).
CONCAVE_CUT = True
CUT_MIN_DEPTH = 0.08  # concavity depth, x the component's equivalent radius
CUT_MAX_WIDTH = 0.9
CUT_MIN_PIECE = 0.1  # each piece at least this share of the component
CUT_MAX_SOLIDITY = 0.93  # a more convex component is one lumpy body


def label_pieces(mask: np.ndarray, connectivity: int = 8) -> tuple[int, np.ndarray, np.ndarray]:
    """``cv2.connectedComponentsWithStats(mask, connectivity)`` without the centroids: ``(n,
    labels int32, stats)``, the same labels and stats (row 0, the background, too). Worked out on
    the foreground's bounding box (from even coordinates, so OpenCV's 2 x 2-block labelling
    numbers the pieces as on the whole mask): OpenCV's statistics cost about 4 ns per pixel, so a
    sparse mask labels several times faster."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8) if mask.dtype != np.uint8 else mask
    H, W = mask.shape
    x, y, bw, bh = cv2.boundingRect(mask)
    x0, y0, x1, y1 = x & ~1, y & ~1, x + bw, y + bh
    if (x1 - x0) * (y1 - y0) > 0.5 * H * W:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
        return n, lab, stats
    lab = np.zeros((H, W), np.int32)
    if bw == 0:
        return 1, lab, np.array([[0, 0, W, H, H * W]], np.int32)
    n, lab[y0:y1, x0:x1], stats, _ = cv2.connectedComponentsWithStats(mask[y0:y1, x0:x1], connectivity=connectivity)
    stats[1:, 0] += x0
    stats[1:, 1] += y0
    # the background: the crop's, plus everything outside the crop (whole rows and whole columns)
    bx, by, bbw, bbh, inside = (int(v) for v in stats[0])
    xs, ys = [], []
    if inside:
        xs += [x0 + bx, x0 + bx + bbw]
        ys += [y0 + by, y0 + by + bbh]
    if y0 > 0 or y1 < H:  # whole rows outside the crop
        xs += [0, W]
        ys += [0 if y0 > 0 else y1, H if y1 < H else y0]
    if x0 > 0 or x1 < W:  # whole columns outside the crop
        ys += [0, H]
        xs += [0 if x0 > 0 else x1, W if x1 < W else x0]
    stats[0] = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys), H * W - int(stats[1:, 4].sum()))
    return n, lab, stats


def mask_solidity(m: np.ndarray) -> float:
    """Pixel area over the convex-hull area of a binary mask's largest outer contour."""
    cs, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return 0.0
    c = max(cs, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(c))
    return float(m.sum()) / hull if hull > 0 else 0.0


def fill_small_holes(mask: np.ndarray, max_hole_area: int) -> np.ndarray:
    """Fill background regions enclosed by foreground that are smaller than ``max_hole_area``
    (worked out on the foreground's bounding box: a region there that reaches the box's edge is
    open to the background around it, or to the image border)."""
    if max_hole_area <= 0:
        return mask
    x0, y0, w, h = cv2.boundingRect((mask != 0).astype(np.uint8))
    if w == 0:
        return mask
    inv = (mask[y0:y0 + h, x0:x0 + w] == 0).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 1:
        return mask
    x, y, bw, bh, area = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3], stats[:, 4]
    touches = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    small = (~touches) & (area < max_hole_area)
    small[0] = False
    if not small.any():
        return mask
    out = mask.copy()
    out[y0:y0 + h, x0:x0 + w][small[lab]] = 1
    return out


def _peaks(dist: np.ndarray, min_peak: float) -> list[tuple[int, int, float]]:
    """Local maxima of a distance map, suppressed within each peak's own radius."""
    size = max(3, int(min_peak) | 1)
    mx = ndi.maximum_filter(dist, size=size)
    ys, xs = np.nonzero((dist >= mx) & (dist >= min_peak))
    if len(ys) == 0:
        return []
    vals = dist[ys, xs]
    order = np.argsort(-vals)
    kept: list[tuple[int, int, float]] = []
    for i in order:
        y, x, v = int(ys[i]), int(xs[i]), float(vals[i])
        if all((y - ky) ** 2 + (x - kx) ** 2 > (0.8 * max(v, kv)) ** 2 for ky, kx, kv in kept):
            kept.append((y, x, v))
        if len(kept) >= 50:
            break
    return kept


def _line_min(dist: np.ndarray, a, b) -> float:
    n = int(max(abs(a[0] - b[0]), abs(a[1] - b[1]))) + 1
    ys = np.linspace(a[0], b[0], n).round().astype(int)
    xs = np.linspace(a[1], b[1], n).round().astype(int)
    return float(dist[ys, xs].min())


def _merge_peaks(dist, peaks, saddle_ratio):
    """Union peaks whose connecting line never dips below ``saddle_ratio`` x the smaller peak."""
    parent = list(range(len(peaks)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            a, b = peaks[i], peaks[j]
            if _line_min(dist, a[:2], b[:2]) >= saddle_ratio * min(a[2], b[2]):
                parent[find(i)] = find(j)
    groups: dict[int, list] = {}
    for i, p in enumerate(peaks):
        groups.setdefault(find(i), []).append(p)
    return list(groups.values())


def _padded(m: np.ndarray, cut_sides: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """``m`` with a 1 px frame: background, but its own edge repeated on the ``cut_sides``
    (top, bottom, left, right), where the object continues beyond the image."""
    out = np.pad(m, 1)
    top, bottom, left, right = cut_sides
    if top:
        out[0, 1:-1] = m[0]
    if bottom:
        out[-1, 1:-1] = m[-1]
    if left:
        out[1:-1, 0] = m[:, 0]
    if right:
        out[1:-1, -1] = m[:, -1]
    return out


def split_touching(comp: np.ndarray, prob: np.ndarray | None = None, contact: np.ndarray | None = None,
                   *, saddle_ratio: float = 0.55, min_seed_frac: float = 0.04,
                   cut_sides: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> tuple[np.ndarray, int]:
    """Split one binary component into touching objects. Returns (labels int32, count).

    ``cut_sides`` (top, bottom, left, right): the sides of ``comp`` where the image border cuts
    the object, which continues beyond them, so that a piece cut there still makes a peak of its
    own; by default every side counts as background, as around an object whole in the image."""
    comp = comp.astype(np.uint8)
    H, W = comp.shape
    f = max(H, W) / float(SPLIT_SIZE)
    if f > 1.25:  # split at a reduced resolution, then map the labels back
        sw, sh = max(4, round(W / f)), max(4, round(H / f))
        small = (cv2.resize(comp.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) >= 0.5)
        ps = None if prob is None else cv2.resize(prob, (sw, sh), interpolation=cv2.INTER_AREA)
        cs = None if contact is None else cv2.resize(contact, (sw, sh), interpolation=cv2.INTER_AREA)
        lab_s, n = split_touching(small, ps, cs, saddle_ratio=saddle_ratio, min_seed_frac=min_seed_frac,
                                  cut_sides=cut_sides)
        if n <= 1:
            return comp.astype(np.int32), 1
        lab = cv2.resize(lab_s.astype(np.float32), (W, H), interpolation=cv2.INTER_NEAREST)
        lab[comp == 0] = 0
        lab = _flood(lab.astype(np.int32), comp > 0, np.zeros(comp.shape, np.float32), levels=1)
        return lab, n
    area = int(comp.sum())
    convex_test = False
    # peaks and necks of the outer shape: a hole or crack inside a textured body is no neck; the
    # pieces are flooded over the filled shape (a ring's peak lies in its hole), holes cut out after
    solid = ndi.binary_fill_holes(comp)
    dist = cv2.distanceTransform(_padded(solid.astype(np.uint8), cut_sides), cv2.DIST_L2, 5)[1:-1, 1:-1]
    markers = np.zeros(comp.shape, np.int32)
    n = 0
    if contact is not None:
        core = (comp > 0) & (contact < 0.5)
        core = cv2.erode(core.astype(np.uint8), np.ones((3, 3), np.uint8))
        k, lab, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=4)
        for i in range(1, k):
            if stats[i, 4] >= min_seed_frac * area:
                n += 1
                markers[lab == i] = n
    if n <= 1:
        markers[:] = 0
        n = 0
        dmax = float(dist.max())
        if dmax < 3:
            return comp.astype(np.int32), 1
        peaks = _peaks(dist, max(2.0, 0.3 * dmax))
        groups = _merge_peaks(dist, peaks, saddle_ratio) if len(peaks) > 1 else [peaks]
        if len(groups) <= 1 and len(peaks) > 1 and saddle_ratio < CONVEX_RATIO:
            groups = _merge_peaks(dist, peaks, CONVEX_RATIO)
            convex_test = True
        if len(groups) <= 1:
            return _concave_split(comp) if CONCAVE_CUT else (comp.astype(np.int32), 1)
        for g in groups:
            n += 1
            for y, x, v in g:
                cv2.circle(markers, (x, y), max(1, int(0.3 * v)), n, -1)
        markers[~solid] = 0
    if n <= 1:
        return comp.astype(np.int32), 1
    # watershed (flooding by levels) on the inverted distance map, raised by the contact
    # probability and by 1 - prob: boundaries settle on necks and low-probability valleys
    dmax = float(dist.max())
    relief = dmax - dist
    if contact is not None:
        relief = relief + dmax * 0.5 * contact
    if prob is not None:
        relief = relief + dmax * 0.25 * (1 - prob)
    lab = _flood(markers, solid, relief.astype(np.float32))
    lab[comp == 0] = 0
    if convex_test and not _split_explains_concavity(comp, lab, n):
        return _concave_split(comp) if CONCAVE_CUT else (comp.astype(np.int32), 1)
    return lab.astype(np.int32), n


def _concave_split(comp: np.ndarray, depth: int = 0) -> tuple[np.ndarray, int]:
    """Split ``comp`` by a straight cut between two deep concave points of its outline, kept only
    when it explains the concavity (``CONVEX_MIN`` / ``CONVEX_GAIN``) and crosses a neck narrower
    than ``CUT_MAX_WIDTH`` x the smaller piece's equivalent diameter; each piece is cut again
    (at most 2 levels deep)."""
    one = (comp.astype(np.int32), 1)
    comp = comp.astype(np.uint8)
    whole_deficit = 1 - mask_solidity(comp)
    if whole_deficit < 1 - CUT_MAX_SOLIDITY:
        return one
    filled = ndi.binary_fill_holes(comp).astype(np.uint8)
    cs, _ = cv2.findContours(filled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return one
    c = max(cs, key=cv2.contourArea)
    area = float(comp.sum())
    if len(c) < 8 or area < 64:
        return one
    r = np.sqrt(area / np.pi)
    try:
        defects = cv2.convexityDefects(c, cv2.convexHull(c, returnPoints=False))
    except cv2.error:
        return one
    if defects is None:
        return one
    pts = c.reshape(-1, 2)
    defects = defects.reshape(-1, 4)
    defects = defects[defects[:, 3] / 256.0 >= CUT_MIN_DEPTH * r]
    deep = [tuple(pts[f]) for f in defects[np.argsort(-defects[:, 3])][:8, 2]]
    best = None
    for a, b in ((a, b) for i, a in enumerate(deep) for b in deep[i + 1:]):
        width = float(np.hypot(a[0] - b[0], a[1] - b[1]))
        if width > CUT_MAX_WIDTH * 2 * np.sqrt(area / 2 / np.pi):  # wider than the larger piece could be
            continue
        cut = comp.copy()
        cv2.line(cut, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 0, 2)
        k, lab, stats, _ = cv2.connectedComponentsWithStats(cut, connectivity=4)
        if k < 3:
            continue
        order = 1 + np.argsort(-stats[1:, 4])
        s0, s1 = int(stats[order[0], 4]), int(stats[order[1], 4])
        if s1 < CUT_MIN_PIECE * area or width > CUT_MAX_WIDTH * 2 * np.sqrt((area - s0) / np.pi):
            continue  # the smaller piece gets at most what is not in the larger one
        markers = np.zeros(comp.shape, np.int32)
        markers[lab == order[0]] = 1
        markers[lab == order[1]] = 2
        pieces = _flood(markers, comp > 0, np.zeros(comp.shape, np.float32), levels=1)
        if width > CUT_MAX_WIDTH * 2 * np.sqrt(min(int((pieces == j).sum()) for j in (1, 2)) / np.pi):
            continue
        min_solidity, deficit = _pieces_convexity(pieces, 2)
        if min_solidity < CONVEX_MIN or deficit > CONVEX_GAIN * whole_deficit:
            continue
        if best is None or deficit < best[0]:
            best = (deficit, pieces)
    if best is None:
        return one
    pieces = best[1]
    if depth >= 2:
        return pieces, 2
    out = np.zeros(comp.shape, np.int32)
    n = 0
    for j in (1, 2):
        sub, k = _concave_split(pieces == j, depth + 1)
        for i in range(1, k + 1):
            n += 1
            out[sub == i] = n
    return out, n


def _pieces_convexity(lab: np.ndarray, n: int) -> tuple[float, float]:
    """The smallest solidity of pieces 1..n of ``lab`` and their area-weighted convexity deficit."""
    pieces = [lab == j for j in range(1, n + 1)]
    solidity = [mask_solidity(p) for p in pieces]
    areas = [int(p.sum()) for p in pieces]
    return min(solidity), sum((1 - s) * a for s, a in zip(solidity, areas, strict=True)) / max(1, sum(areas))


def _split_explains_concavity(comp: np.ndarray, lab: np.ndarray, n: int) -> bool:
    """Every piece convex (solidity >= CONVEX_MIN) and the pieces' area-weighted convexity
    deficit at most CONVEX_GAIN of the whole's: two round bodies joined by a wide neck."""
    min_solidity, deficit = _pieces_convexity(lab, n)
    return min_solidity >= CONVEX_MIN and deficit <= CONVEX_GAIN * (1 - mask_solidity(comp))


def _flood(markers: np.ndarray, comp: np.ndarray, relief: np.ndarray, levels: int = 24) -> np.ndarray:
    """Marker-controlled watershed by level flooding (restricted dilations per level)."""
    lab = markers.astype(np.float32)
    lab[~comp] = 0
    k = np.ones((3, 3), np.uint8)
    vals = relief[comp]
    for level in np.linspace(float(vals.min()), float(vals.max()), levels + 1)[1:]:
        allowed = comp & (relief <= level)
        for _ in range(10000):
            d = cv2.dilate(lab, k)
            grow = allowed & (lab == 0) & (d > 0)
            if not grow.any():
                break
            lab[grow] = d[grow]
    for _ in range(10000):  # anything left (unreachable within levels): nearest label
        rest = comp & (lab == 0)
        if not rest.any():
            break
        d = cv2.dilate(lab, k)
        grow = rest & (d > 0)
        if not grow.any():
            break
        lab[grow] = d[grow]
    return lab.astype(np.int32)


def _simplify(c: np.ndarray, eps: float) -> np.ndarray:
    if eps > 0 and len(c) > 8:
        s = cv2.approxPolyDP(c, eps, True)
        if len(s) >= 3:
            return s
    return c


def outlines(obj_mask: np.ndarray, offset=(0, 0), eps: float = 1.0, min_hole_area: int = 0):
    """Exterior + own holes of one object mask (largest outer contour; holes with hierarchy)."""
    m = np.ascontiguousarray(np.pad(obj_mask.astype(np.uint8), 1))
    cs, hier = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return None
    hier = hier[0]
    outer = [i for i in range(len(cs)) if hier[i][3] < 0]
    if not outer:
        return None
    best = max(outer, key=lambda i: (cv2.contourArea(cs[i]), len(cs[i])))
    ox, oy = offset[0] - 1, offset[1] - 1
    ext = _simplify(cs[best], eps).reshape(-1, 2) + (ox, oy)
    holes = []
    child = hier[best][2]
    while child >= 0:
        hc = cs[child]
        if cv2.contourArea(hc) >= min_hole_area and len(hc) >= 3:
            holes.append((_simplify(hc, eps).reshape(-1, 2) + (ox, oy)).tolist())
        child = hier[child][0]
    if len(ext) < 3:
        return None
    return ext.tolist(), holes


def instances(prob: np.ndarray, *, threshold: float = 0.5, min_area_px: int = 50,
              contact: np.ndarray | None = None, split: bool = True, eps: float = 1.0,
              fill_holes_below: int | None = None, saddle_ratio: float = 0.55,
              mask: np.ndarray | None = None, border_continues: bool = False) -> list[dict]:
    """Full-resolution probability map (float32 HxW) -> list of polygon dicts (no metrics).

    ``mask``: foreground to use instead of ``prob >= threshold`` (e.g. ``ml.refine.refine_mask``);
    ``border_continues``: objects the map's edge cuts continue beyond it (``split_touching``'s
    ``cut_sides``), so that a piece cut by it is split off as any other.
    """
    fg = (prob >= threshold).astype(np.uint8) if mask is None else (mask > 0).astype(np.uint8)
    fg = fill_small_holes(fg, min_area_px if fill_holes_below is None else fill_holes_below)
    n, lab, stats = label_pieces(fg)
    H, W = fg.shape
    polys = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area_px:
            continue
        x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(W, x + w + 1), min(H, y + h + 1)
        comp = lab[y0:y1, x0:x1] == i
        pc = prob[y0:y1, x0:x1]
        cc = contact[y0:y1, x0:x1] if contact is not None else None
        if split:
            cut = (y == 0, y + h == H, x == 0, x + w == W) if border_continues else (False,) * 4
            sub, k = split_touching(comp, pc, cc, saddle_ratio=saddle_ratio, cut_sides=cut)
        else:
            sub, k = comp.astype(np.int32), 1
        for j in range(1, k + 1):
            om = sub == j
            if int(om.sum()) < min_area_px:
                continue
            if k > 1:  # a watershed piece may be ragged: keep its main body
                kk, ll, st, _ = cv2.connectedComponentsWithStats(om.astype(np.uint8), connectivity=8)
                if kk > 2:
                    om = ll == (1 + int(np.argmax(st[1:, 4])))
            res = outlines(om, (x0, y0), eps=eps, min_hole_area=0)
            if res is None:
                continue
            ext, holes = res
            own = om & (pc >= threshold)  # the object as the model itself marks it
            conf = float(pc[own].mean()) if own.any() else (float(pc[om].mean()) if om.any() else 0.0)
            polys.append({"exterior": ext, "holes": holes, "confidence": round(conf, 4)})
    return polys

