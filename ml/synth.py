"""Synthetic brightfield spheroid images with instance labels (training data generator).

Image formation follows brightfield absorbance: ``I = illumination * exp(-A)`` where ``A`` sums
the absorbance of every structure. Structures:

- spheroids (labelled): dense, textured, dark bodies, irregular round/elliptic outlines, thicker
  (darker) centre, fuzzy bumpy rim of attached cells, varied darkness (some pale grey);
  touching pairs / small groups that must stay separate objects;
- not labelled: loose single cells (ring-like dots), large halos of loose cells around
  spheroids, clumps of loose cells, translucent vesicles (thin rim, clear inside), pale bright
  bubbles, small very dark debris, thin fibres;
- illumination gradient, vignetting (also dark corners), blur, Gaussian + shot noise,
  8-bit or 16-bit quantisation with a random (often narrow) dynamic range.

``generate(rng, size)`` returns ``(image, labels, contact)`` where ``image`` is the raw
quantised image (uint8 or uint16), ``labels`` a uint16 instance map and ``contact`` a uint8 map
of the band where two instances touch (used to train the splitting head).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    s = n.std()
    return n / s if s > 0 else n


def _outline(rng, cx, cy, r, aspect, theta, irregular, n=160):
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = np.ones_like(phi)
    for k in range(2, 7):
        rad += rng.uniform(0, irregular) / k * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    x = r * aspect * rad * np.cos(phi)
    y = r / aspect * rad * np.sin(phi)
    c, s = math.cos(theta), math.sin(theta)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _fill(shape, pts) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return m


def _cells(rng, shape, mask_weight: np.ndarray | None, n: int, radius: float, strength: float) -> np.ndarray:
    """Absorbance of ``n`` loose ring-like cells (impulses convolved with a ring kernel)."""
    h, w = shape
    imp = np.zeros(shape, np.float32)
    if n <= 0:
        return imp
    if mask_weight is None:
        ys = rng.integers(0, h, n)
        xs = rng.integers(0, w, n)
    else:
        flat = mask_weight.ravel().astype(np.float64)
        tot = flat.sum()
        if tot <= 0:
            return imp
        idx = rng.choice(flat.size, size=n, p=flat / tot)
        ys, xs = np.divmod(idx, w)
    np.add.at(imp, (ys, xs), rng.uniform(0.5, 1.0, n).astype(np.float32) * strength)
    k = int(math.ceil(radius * 2 + 2)) | 1
    yy, xx = np.mgrid[:k, :k] - k // 2
    d = np.sqrt(xx * xx + yy * yy)
    ring = np.exp(-((d - radius) ** 2) / (2 * max(0.5, radius * 0.35) ** 2))
    ring += 0.35 * np.exp(-(d ** 2) / (2 * max(0.5, radius * 0.5) ** 2))
    return cv2.filter2D(imp, -1, ring.astype(np.float32), borderType=cv2.BORDER_CONSTANT)


def _blob_region(rng, shape, cx, cy, r, irregular=0.5) -> np.ndarray:
    pts = _outline(rng, cx, cy, r, rng.uniform(1.0, 1.4), rng.uniform(0, np.pi), irregular)
    m = _fill(shape, pts).astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), max(1.0, r * 0.15))


def generate(rng: np.random.Generator, size: int | tuple[int, int] = 384):
    h, w = (size, size) if isinstance(size, int) else size
    S = min(h, w)
    shape = (h, w)
    A = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint16)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)

    # ---------------------------------------------------------------- spheroids
    n_sph = int(rng.choice([0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6], p=None))
    bodies = []  # (cx, cy, r)
    scale_mode = rng.uniform()
    attempts = 0
    while len(bodies) < n_sph and attempts < 60:
        attempts += 1
        if scale_mode < 0.35:
            r = rng.uniform(0.025, 0.08) * S
        elif scale_mode < 0.85:
            r = rng.uniform(0.06, 0.17) * S
        else:
            r = rng.uniform(0.12, 0.32) * S
        if bodies and rng.uniform() < 0.55:  # touching neighbour
            bx, by, br = bodies[rng.integers(len(bodies))]
            ang = rng.uniform(0, 2 * np.pi)
            dist = (br + r) * rng.uniform(0.86, 1.02)
            cx, cy = bx + dist * math.cos(ang), by + dist * math.sin(ang)
        else:
            cx, cy = rng.uniform(0.05, 0.95) * w, rng.uniform(0.05, 0.95) * h
        ok = True
        for bx, by, br in bodies:
            d = math.hypot(cx - bx, cy - by)
            if d < (br + r) * 0.85:
                ok = False
                break
        if ok:
            bodies.append((cx, cy, r))

    halo_weight = np.zeros(shape, np.float32)
    body_A = np.zeros(shape, np.float32)
    for i, (cx, cy, r) in enumerate(bodies, start=1):
        aspect = 1.0 + abs(rng.normal(0, 0.12)) if rng.uniform() < 0.8 else rng.uniform(1.1, 1.6)
        aspect = math.sqrt(aspect)
        pts = _outline(rng, cx, cy, r, aspect, rng.uniform(0, np.pi), rng.uniform(0.0, 0.25))
        m = _fill(shape, pts)
        if m.sum() < 20:
            continue
        # interior thickness profile from the distance to the rim
        dist = cv2.distanceTransform(m, cv2.DIST_L2, 3)
        dmax = max(dist.max(), 1.0)
        prof = np.clip(dist / dmax, 0, 1) ** rng.uniform(0.2, 0.8)
        base = rng.uniform(0.35, 0.75)
        if rng.uniform() < 0.25:  # a dark core fading to a pale periphery
            prof = np.clip(dist / dmax, 0, 1) ** rng.uniform(0.8, 1.6)
            base = rng.uniform(0.1, 0.35)
        dark = rng.choice([rng.uniform(1.6, 4.0), rng.uniform(0.6, 1.6)], p=[0.7, 0.3])
        tex = _smooth_noise(rng, shape, rng.uniform(0.7, 2.0)) * rng.uniform(0.05, 0.35)
        if rng.uniform() < 0.5:  # mottled by packed cells, at the scale of one cell or a few
            tex += _smooth_noise(rng, shape, rng.uniform(1.5, 4.0)) * rng.uniform(0.1, 0.35)
        rim_soft = rng.uniform(0.4, 1.8)
        alpha = cv2.GaussianBlur(m.astype(np.float32), (0, 0), rim_soft)
        body = alpha * dark * (base + (1 - 0.55) * prof) * (1 + tex)
        if rng.uniform() < 0.4 + 0.4 * (base < 0.35):  # darker defined edge
            edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
            body += cv2.GaussianBlur(edge, (0, 0), 0.8) * dark * 0.4
        # bumpy rim: cells sitting on the boundary
        edge_band = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
        nb = int(rng.uniform(0.3, 2.0) * 2 * np.pi * r / 3)
        body += _cells(rng, shape, edge_band, nb, rng.uniform(1.0, 2.5), dark * rng.uniform(0.15, 0.45))
        body_A = np.maximum(body_A, body)
        labels[m > 0] = i  # later bodies occlude earlier ones
        if rng.uniform() < 0.35:  # halo of loose cells around this spheroid
            halo_weight += _blob_region(rng, shape, cx + rng.normal(0, r * 0.3), cy + rng.normal(0, r * 0.3),
                                        r * rng.uniform(1.8, 3.5), 0.6)
    A += body_A

    # ---------------------------------------------------------------- loose cells
    cell_r = rng.uniform(1.0, 2.8)
    A += _cells(rng, shape, None, int(rng.uniform(0, 0.004) * h * w), cell_r, rng.uniform(0.1, 0.45))
    if halo_weight.max() > 0:
        hw = np.clip(halo_weight, 0, 1) * (labels == 0)
        dens = rng.uniform(0.02, 0.12)
        A += _cells(rng, shape, hw, int(dens * hw.sum()), cell_r, rng.uniform(0.12, 0.4))
        A += hw * rng.uniform(0.0, 0.12) * (1 + 0.5 * _smooth_noise(rng, shape, 2.0))
    for _ in range(rng.integers(0, 6)):  # clumps of loose cells (grey, granular, not a spheroid)
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.02, 0.08) * S
        reg = _blob_region(rng, shape, cx, cy, r, 0.8)
        A += _cells(rng, shape, reg, int(rng.uniform(0.03, 0.18) * reg.sum()), cell_r, rng.uniform(0.15, 0.5))

    # ---------------------------------------------------------------- vesicles and bubbles
    for _ in range(rng.integers(0, 4)):
        r = rng.uniform(0.02, 0.12) * S
        if bodies and rng.uniform() < 0.5:
            bx, by, br = bodies[rng.integers(len(bodies))]
            ang = rng.uniform(0, 2 * np.pi)
            cx, cy = bx + (br + r * 0.9) * math.cos(ang), by + (br + r * 0.9) * math.sin(ang)
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        pts = _outline(rng, cx, cy, r, rng.uniform(1.0, 1.15), rng.uniform(0, np.pi), 0.08)
        ring = np.zeros(shape, np.float32)
        cv2.polylines(ring, [np.round(pts * 16).astype(np.int32)], True, 1.0, int(rng.integers(1, 3)),
                      cv2.LINE_AA, shift=4)
        inside = _fill(shape, pts).astype(np.float32)
        ves = ring * rng.uniform(0.3, 1.0) + inside * rng.uniform(-0.12, 0.12)
        ves += inside * _smooth_noise(rng, shape, 1.5) * rng.uniform(0.0, 0.12)
        A = A * (1 - 0.5 * inside) + cv2.GaussianBlur(ves, (0, 0), rng.uniform(0.5, 1.2))
    for _ in range(rng.integers(0, 3)):  # pale bright bubble with a soft grey rim
        r = rng.uniform(0.03, 0.1) * S
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        reg = _blob_region(rng, shape, cx, cy, r, 0.3)
        grad = cv2.morphologyEx((reg > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
        A += -reg * rng.uniform(0.05, 0.25) + cv2.GaussianBlur(grad.astype(np.float32), (0, 0), 1.5) * 0.3

    # ---------------------------------------------------------------- debris and fibres
    n_deb = int(rng.uniform(0, 40))
    if n_deb:
        deb = np.zeros(shape, np.float32)
        for _ in range(n_deb):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.6, 4.0) if rng.uniform() < 0.9 else rng.uniform(4.0, 0.015 * S + 4)
            pts = _outline(rng, cx, cy, r, rng.uniform(1.0, 2.5), rng.uniform(0, np.pi), 0.8, n=12)
            cv2.fillPoly(deb, [np.round(pts * 16).astype(np.int32)], float(rng.uniform(0.8, 3.5)),
                         cv2.LINE_AA, shift=4)
        A += cv2.GaussianBlur(deb, (0, 0), 0.7)
    for _ in range(rng.integers(0, 3)):
        n = 30
        p = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        ang = rng.uniform(0, 2 * np.pi)
        step = rng.uniform(0.005, 0.03) * S
        pts = []
        for _k in range(n):
            ang += rng.normal(0, 0.2)
            p = p + step * np.array([math.cos(ang), math.sin(ang)])
            pts.append(p.copy())
        fib = np.zeros(shape, np.float32)
        cv2.polylines(fib, [np.round(np.array(pts) * 16).astype(np.int32)], False, float(rng.uniform(0.4, 1.5)),
                      int(rng.integers(1, 3)), cv2.LINE_AA, shift=4)
        A += fib

    # ---------------------------------------------------------------- optics
    A = cv2.GaussianBlur(A, (0, 0), rng.uniform(0.3, 1.3))
    illum = np.ones(shape, np.float32)
    gx, gy = rng.normal(0, 0.15, 2)
    illum += gx * (xx / w - 0.5) + gy * (yy / h - 0.5)
    if rng.uniform() < 0.7:  # vignetting, possibly off-centre (dark corners)
        vx, vy = rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.3, 1.3) * h
        rr = np.sqrt((xx - vx) ** 2 + (yy - vy) ** 2) / (1.2 * S)
        illum *= np.clip(1 - rng.uniform(0.1, 0.7) * rr ** rng.uniform(2, 5), 0.05, 1)
    illum *= 1 + 0.03 * _smooth_noise(rng, shape, S * 0.1)
    if rng.uniform() < 0.2:  # the dark rim of the well crossing a corner or an edge
        ang = rng.uniform(0, 2 * np.pi)
        R = rng.uniform(0.7, 1.5) * S
        off = R - rng.uniform(0.25, 0.5) * S
        wx, wy = w / 2 - off * math.cos(ang), h / 2 - off * math.sin(ang)
        outside = (np.sqrt((xx - wx) ** 2 + (yy - wy) ** 2) > R).astype(np.float32)
        if not (outside.astype(bool) & (labels > 0)).any():  # spheroids lie inside the well
            outside = cv2.GaussianBlur(outside, (0, 0), rng.uniform(1.0, 6.0))
            illum *= 1 - outside * rng.uniform(0.6, 0.97)
    img = illum * np.exp(-A)
    img = img + rng.normal(0, rng.uniform(0.003, 0.03), shape).astype(np.float32)
    img = np.clip(img, 0, None)
    if rng.uniform() < 0.3:
        img = img ** rng.uniform(0.7, 1.4)

    # ---------------------------------------------------------------- quantisation
    peak = float(np.percentile(img, 99.9)) + 1e-6
    if rng.uniform() < 0.5:
        gain = rng.uniform(0.6, 1.0) * 255 / peak
        out = np.clip(img * gain, 0, 255).astype(np.uint8)
    else:
        lo = rng.uniform(0, 3000)
        span = rng.choice([rng.uniform(300, 3000), rng.uniform(3000, 60000)])
        out = np.clip(lo + img / peak * span, 0, 65535).astype(np.uint16)

    contact = contact_band(labels)
    return out, labels, contact


def contact_band(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of an instance within ``width`` px of a different instance."""
    contact = np.zeros(labels.shape, np.uint8)
    n = int(labels.max())
    if n < 2:
        return contact
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    for i in range(1, n + 1):
        mi = (labels == i).astype(np.uint8)
        if not mi.any():
            continue
        dil = cv2.dilate(mi, k)
        other = (labels > 0) & (labels != i)
        contact |= (dil.astype(bool) & other).astype(np.uint8)
    return contact
