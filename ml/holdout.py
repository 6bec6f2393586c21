"""Hold-out synthetic brightfield spheroid images, for evaluation only.

This generator exists so that the segmentation model can be tested on images from *a different
generator than the one it was trained on*. It was written independently of ``ml.synth`` (it
neither imports nor follows it) and is never used for training or for choosing the floors
(``python -m ml.evaluate --holdout N --seed S``; docs/ml.md says which seeds served as a
development set and which as the test set).

Rendering model (transmitted light, Beer-Lambert): everything in the well is an optical
density (OD) layer plus a small "phase" layer (refraction / defocus brightening and
darkening); the camera sees ``illumination * exp(-OD) * (1 + phase)`` through a blurred PSF,
with shot and read noise.

- Spheroids: a 3D cell aggregate whose OD follows its projected thickness (a dome), with a
  Voronoi-like packed-cell texture, mottling, a darker or paler necrotic core in big ones,
  a refraction band just inside the rim, a sharp or bumpy/fuzzy rim with a few protruding
  cells, sometimes a bright halo. Outlines: ellipse x low harmonics (round to lumpy).
- Distractors (never labelled): loose single cells (dark, ringed with a bright centre, pale),
  small clusters of 3-10 loose cells, dense halos of loose cells around spheroids, vesicles
  and bubbles, pale discs, debris specks, fibres, dust, out-of-focus blobs and dust rings.
- Plate and camera: linear / radial illumination gradients, off-centre vignetting,
  sometimes the dark meniscus edge of a well in a corner, PSF blur, Poisson-like + read
  noise; 8-bit (sometimes RGB with a slight tint) or 16-bit with a narrow dynamic range.

The label image holds the dense body of each spheroid only (0 = background, 1..N).

CLI::

    python -m ml.holdout --out DIR --n 30 --seed 11 [--size 1000 | --size 768x1024]

writes ``DIR/images/holdout_<seed+i>.png`` (16-bit ones as 16-bit PNG or TIFF),
``DIR/masks/holdout_<seed+i>.png`` (16-bit label PNG, same base name, the pairing that
``python -m ml.evaluate --images DIR/images --masks DIR/masks`` uses) and
``DIR/overlays/holdout_<seed+i>.png`` (label outlines on the image, for checking by eye).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

__all__ = ["Placed", "Scene", "render", "generate", "write_set", "parse_size", "main"]


@dataclass
class Placed:
    """One object put into the scene (spheroids have ``label`` > 0, distractors 0)."""

    kind: str
    x: float
    y: float
    radius: float  # spheroids: nominal radius; distractors: radius of their footprint disc
    label: int = 0
    area: int = 0  # spheroids: pixels carrying their label in the final label image
    touches: bool = False  # a distractor allowed to touch a spheroid rim (halo / rim cells)
    info: dict = field(default_factory=dict)


@dataclass
class Scene:
    image: np.ndarray
    labels: np.ndarray
    objects: list[Placed]
    meta: dict

    @property
    def spheroids(self) -> list[Placed]:
        return [o for o in self.objects if o.label > 0]

    @property
    def distractors(self) -> list[Placed]:
        return [o for o in self.objects if o.label == 0]


# --------------------------------------------------------------------------- small helpers


def _window(shape, x: float, y: float, r: float):
    """Slices and local pixel-centre grids of a square window of half-size r, clipped."""
    h, w = shape
    x0, x1 = max(0, int(math.floor(x - r))), min(w, int(math.ceil(x + r)) + 1)
    y0, y1 = max(0, int(math.floor(y - r))), min(h, int(math.ceil(y + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), xx - np.float32(x), yy - np.float32(y)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _smooth_noise(rng, shape, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered white noise."""
    n = rng.standard_normal(shape).astype(np.float32)
    if sigma > 0.3:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
    s = float(n.std())
    return (n - float(n.mean())) / (s if s > 1e-8 else 1.0)


def _lowfreq_field(rng, shape, cells: int = 4) -> np.ndarray:
    """Very smooth field in about [-1, 1]: a few random bumps upsampled."""
    h, w = shape
    g = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    f = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(f / 2.0, -1.5, 1.5)


# --------------------------------------------------------------------------- cells


def _stamp_cell(od, ph, x, y, rc, a, ring, centre, outer, soft, aspect=1.0, ang=0.0, nucleus=0.0):
    """A single rounded cell: OD disc with a dome, membrane ring, refractive centre and rim."""
    s = max(float(soft), 0.5)
    win = _window(od.shape, x, y, rc * 1.6 * aspect + 3.5 * s + 2)
    if win is None:
        return
    sl, dx, dy = win
    if aspect != 1.0:
        c, si = math.cos(ang), math.sin(ang)
        dx, dy = (dx * c + dy * si) / aspect, (-dx * si + dy * c) * aspect
    r = np.sqrt(dx * dx + dy * dy)
    edge = _sigmoid((rc - r) / (0.55 * s))
    dome = np.sqrt(np.clip(1.0 - (r / rc) ** 2, 0.0, 1.0))
    val = a * edge * (0.55 + 0.45 * dome) + ring * np.exp(-(((r - rc) / (0.6 + 0.8 * s)) ** 2))
    if nucleus:
        nx, ny = 0.25 * rc * math.cos(7 * ang), 0.25 * rc * math.sin(7 * ang)
        val += nucleus * np.exp(-((dx - nx) ** 2 + (dy - ny) ** 2) / (2 * (0.3 * rc + 0.4 * s) ** 2))
    od[sl] += val
    if centre or outer:
        p = np.zeros_like(r)
        if centre:
            p += centre * np.exp(-((r / (0.45 * rc + 0.5 * s)) ** 2))
        if outer:
            p += outer * np.exp(-(((r - rc - 0.8 - s) / (0.7 + s)) ** 2))
        ph[sl] += p


def _cell_look(rng, rc: float, defocus: float = 0.0, style: str | None = None) -> dict:
    """Random appearance of a loose cell (dark, ringed with a bright centre, or pale)."""
    style = style or str(rng.choice(["dark", "ringed", "pale"], p=[0.35, 0.4, 0.25]))
    if style == "dark":
        look = dict(
            a=rng.uniform(0.15, 0.7),
            ring=rng.uniform(0.0, 0.25),
            centre=rng.uniform(-0.04, 0.05),
            outer=rng.uniform(0.0, 0.05),
            nucleus=rng.uniform(0.0, 0.4),
        )
    elif style == "ringed":
        look = dict(
            a=rng.uniform(0.03, 0.15),
            ring=rng.uniform(0.08, 0.4),
            centre=rng.uniform(0.03, 0.15),
            outer=rng.uniform(0.0, 0.05),
            nucleus=rng.uniform(0.0, 0.15),
        )
    else:
        look = dict(
            a=rng.uniform(0.06, 0.25),
            ring=rng.uniform(0.03, 0.2),
            centre=0.0,
            outer=rng.uniform(0.01, 0.07),
            nucleus=rng.uniform(0.0, 0.2),
        )
    soft = rng.uniform(0.8, 2.0) + defocus
    if defocus > 0:  # out of focus: spread and fainter
        k = 1.0 / (1.0 + 0.35 * defocus)
        look = {key: v * k for key, v in look.items()}
    look["soft"] = soft
    look["rc"] = rc
    look["aspect"] = 1.0 + abs(rng.normal(0, 0.07))
    look["ang"] = rng.uniform(0, math.pi)
    return look


# --------------------------------------------------------------------------- spheroid shapes


@dataclass
class _Shape:
    cx: float
    cy: float
    a: float  # semi-axes before harmonics
    b: float
    ang: float
    ks: np.ndarray
    amps: np.ndarray
    phases: np.ndarray

    def _f(self, th):
        f = np.ones_like(th, dtype=np.float32)
        for k, am, p in zip(self.ks, self.amps, self.phases, strict=True):
            f = f + np.float32(am) * np.cos(k * th + p).astype(np.float32)
        return f

    def rho(self, xx, yy):
        """Normalised radius: < 1 inside the outline, 1 on it."""
        dx, dy = xx - self.cx, yy - self.cy
        c, s = math.cos(self.ang), math.sin(self.ang)
        u = (dx * c + dy * s) / self.a
        v = (-dx * s + dy * c) / self.b
        return np.sqrt(u * u + v * v) / self._f(np.arctan2(v, u))

    def extent(self, phi: float) -> float:
        """Distance from the centre to the outline along the world direction ``phi``."""
        d = phi - self.ang
        u, v = math.cos(d) / self.a, math.sin(d) / self.b
        return float(self._f(np.array([math.atan2(v, u)], np.float32))[0]) / math.hypot(u, v)

    @property
    def rmax(self) -> float:
        return max(self.a, self.b) * (1.0 + float(np.abs(self.amps).sum()))


def _random_shape(rng, cx, cy, radius) -> _Shape:
    aspect = 1.0 + abs(rng.normal(0, 0.12)) if rng.random() < 0.8 else rng.uniform(1.15, 1.45)
    a, b = radius * math.sqrt(aspect), radius / math.sqrt(aspect)
    irregular = rng.random() < 0.22
    lump = rng.uniform(0.04, 0.09) if irregular else rng.uniform(0.0, 0.035)
    ks = np.arange(2, 9)
    amps = rng.normal(0, 1, ks.size) * lump * (2.0 / ks) ** 1.7  # mostly low orders: lumpy, not star-like
    # keep it compact: the harmonics never pinch the outline
    tot = np.abs(amps).sum()
    if tot > 0.22:
        amps *= 0.22 / tot
    return _Shape(cx, cy, a, b, rng.uniform(0, math.pi), ks, amps, rng.uniform(0, 2 * math.pi, ks.size))


# --------------------------------------------------------------------------- the scene


class _Canvas:
    def __init__(self, h, w):
        self.h, self.w = h, w
        self.od = np.zeros((h, w), np.float32)
        self.ph = np.zeros((h, w), np.float32)
        self.labels = np.zeros((h, w), np.int32)
        self.avoid = np.zeros((h, w), bool)  # where spheroids may not go (outside the well)
        self.objects: list[Placed] = []

    # -- free space checks for distractors
    def disc_free(self, x, y, r) -> bool:
        if not (0 <= x < self.w and 0 <= y < self.h):
            return True
        win = _window((self.h, self.w), x, y, r + 1)
        if win is None:
            return True
        sl, dx, dy = win
        return not bool(np.any((self.labels[sl] > 0) & (dx * dx + dy * dy <= (r + 1) ** 2)))

    def centre_free(self, x, y) -> bool:
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < self.w and 0 <= yi < self.h):
            return True
        return self.labels[yi, xi] == 0


@dataclass
class _Body:
    shape: _Shape
    label: int
    sl: tuple
    mask: np.ndarray  # crop mask (the full body, before any overlap is ceded)
    ox: int  # crop origin (may be outside the image)
    oy: int
    cell: float  # cell diameter in px
    fuzzy: bool
    diameter: float


def _body_mask(rng, shape: _Shape, cell: float, bump_px: float, rim_layer: float = 0.0):
    """Crop (origin, mask) of the dense body, unclipped, with cell-scale rim bumps and (with
    ``rim_layer`` > 0) a layer of rounded cells half-embedded in the rim."""
    m = int(math.ceil(shape.rmax + 2 * bump_px + cell + 4))
    ox, oy = int(math.floor(shape.cx)) - m, int(math.floor(shape.cy)) - m
    n = 2 * m + 2
    yy, xx = np.mgrid[oy : oy + n, ox : ox + n].astype(np.float32)
    rho = shape.rho(xx, yy)
    if bump_px > 0:
        radius = math.sqrt(shape.a * shape.b)
        rho = rho - (bump_px / radius) * _smooth_noise(rng, rho.shape, max(cell / 3.0, 0.8))
    mask = rho <= 1.0
    if rim_layer > 0:
        u8 = mask.astype(np.uint8)
        n_cells = int(math.pi * 2 * math.sqrt(shape.a * shape.b) / cell * rim_layer)
        for _ in range(n_cells):
            phi = rng.uniform(0, 2 * math.pi)
            rc = cell * rng.uniform(0.3, 0.55)
            rr = shape.extent(phi) + rc * rng.uniform(-0.9, 0.25)
            x, y = shape.cx + rr * math.cos(phi) - ox, shape.cy + rr * math.sin(phi) - oy
            cv2.circle(u8, (int(round(x * 4)), int(round(y * 4))), int(round(rc * 4)), 1, -1, cv2.LINE_8, 2)
        mask = u8 > 0
    lab, nlab = ndimage.label(mask)
    if nlab > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        mask = lab == int(sizes.argmax())
    mask = ndimage.binary_fill_holes(mask)
    return ox, oy, mask


def _clip(frame, ox, oy, mask):
    """Part of a crop mask inside the frame: (slice of the image, slice of the crop)."""
    h, w = frame
    n_y, n_x = mask.shape
    x0, y0 = max(0, ox), max(0, oy)
    x1, y1 = min(w, ox + n_x), min(h, oy + n_y)
    if x0 >= x1 or y0 >= y1:
        return None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))


def _place_spheroids(rng, cv: _Canvas, scale: float) -> list[_Body]:
    n = int(rng.choice(6, p=[0.07, 0.38, 0.25, 0.14, 0.09, 0.07]))
    frame = (cv.h, cv.w)
    bodies: list[_Body] = []
    # big ones first: they need the room
    dmax = {0: 450, 1: 450, 2: 400, 3: 330, 4: 280, 5: 240}[n] * scale
    dmin = 60 * scale
    diameters = sorted(
        (float(np.exp(rng.uniform(math.log(dmin), math.log(dmax)))) for _ in range(n)), reverse=True
    )
    pair_wanted = n >= 2 and rng.random() < 0.45
    for d in diameters:
        for attempt in range(60):
            dd = d * (0.97**attempt)
            radius = max(dd / 2.0, dmin / 2.0)
            cell = rng.uniform(7.0, 14.0) * scale
            fuzzy = rng.random() < 0.5
            bump_px = cell * (rng.uniform(0.15, 0.35) if fuzzy else rng.uniform(0.0, 0.12))
            partner = None
            has_pair = any(o.info.get("touching") for o in cv.objects if o.label)
            if bodies and attempt < 40 and ((pair_wanted and not has_pair) or rng.random() < 0.08):
                partner = bodies[int(rng.integers(len(bodies)))]
            shape = _random_shape(rng, 0.0, 0.0, radius)
            if partner is not None:
                phi = rng.uniform(0, 2 * math.pi)
                overlap = rng.uniform(0.0, 0.12) * min(radius, partner.diameter / 2) + rng.uniform(0.5, 2.0)
                dist = partner.shape.extent(phi) + shape.extent(phi + math.pi) - overlap
                shape.cx = partner.shape.cx + dist * math.cos(phi)
                shape.cy = partner.shape.cy + dist * math.sin(phi)
            else:
                cut_ok = rng.random() < 0.15
                lo = -0.3 * radius if cut_ok else shape.rmax + 4
                shape.cx = rng.uniform(lo, cv.w - lo)
                shape.cy = rng.uniform(lo, cv.h - lo)
            rim_layer = rng.uniform(0.3, 1.2) if fuzzy else 0.0
            ox, oy, mask = _body_mask(rng, shape, cell, bump_px, rim_layer)
            clip = _clip(frame, ox, oy, mask)
            if clip is None:
                continue
            isl, csl = clip
            inside = mask[csl]
            total = int(mask.sum())
            if inside.sum() < (0.65 if partner is None else 0.8) * total:
                continue
            if partner is None and inside.sum() < total and rng.random() < 0.5:
                continue  # cut by the border: keep it rarer
            if np.any(inside & cv.avoid[isl]):
                continue
            # other spheroids: a gap unless this is the designed contact
            grow = (
                cv2.dilate(inside.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13)))
                > 0
            )
            others = cv.labels[isl][grow]
            others = set(np.unique(others[others > 0]).tolist())
            if partner is not None:
                others.discard(partner.label)
            if others:
                continue
            lab = len(bodies) + 1
            trial = cv.labels.copy()
            region = trial[isl]
            front = partner is None or rng.random() < 0.5
            if front:
                region[inside] = lab
            else:
                region[inside & (region == 0)] = lab
            if not _connected(trial, [lab] + ([partner.label] if partner is not None else [])):
                continue  # a border cut or the contact split a body
            if partner is not None:
                near = cv2.dilate((trial[isl] == lab).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
                if not np.any(near & (trial[isl] == partner.label)):
                    continue  # the designed contact did not happen
            if int((trial == lab).sum()) < 0.6 * total:
                continue
            cv.labels = trial
            body = _Body(shape, lab, isl, mask, ox, oy, cell, fuzzy, 2 * radius)
            bodies.append(body)
            cv.objects.append(
                Placed(
                    "spheroid",
                    shape.cx,
                    shape.cy,
                    radius,
                    label=lab,
                    info={
                        "touching": partner is not None,
                        "partner": partner.label if partner else 0,
                        "front": bool(front),
                        "fuzzy": fuzzy,
                        "cell_px": round(cell, 1),
                    },
                )
            )
            if partner is not None:
                for o in cv.objects:
                    if o.label == partner.label:
                        o.info["touching"] = True
            break
    return bodies


def _connected(labels, labs) -> bool:
    for lab in labs:
        m = labels == lab
        if not m.any():
            return False
        _, n = ndimage.label(m)
        if n != 1:
            return False
    return True


def _render_body(rng, cv: _Canvas, body: _Body, scale: float) -> dict:
    """Optical density of one spheroid (its whole body, overlap included) and its rim cells."""
    mask = body.mask
    shape = body.shape
    radius = body.diameter / 2.0
    c = body.cell
    pad = int(4 * c + 12 * scale + 8)
    m = np.pad(mask, pad)
    ox, oy = body.ox - pad, body.oy - pad
    clip = _clip((cv.h, cv.w), ox, oy, m)
    if clip is None:
        return {}
    isl, csl = clip
    hh, ww = m.shape
    mf = m.astype(np.float32)

    # darkness: central OD from "fairly pale" to saturated black, most are dark
    dark = float(np.exp(rng.uniform(math.log(0.7), math.log(6.0))))
    if rng.random() < 0.25:
        dark = rng.uniform(0.6, 1.3)
    w_edge = (rng.uniform(0.5, 1.1) if not body.fuzzy else rng.uniform(1.2, 2.8)) * max(scale, 0.5)
    soft = cv2.GaussianBlur(mf, (0, 0), w_edge)

    d_in = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
    d_out = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
    # thickness from the distance to the rim: a sphere's chord through it
    t = np.clip(d_in / max(radius, 1.0), 0.0, 1.0)
    pale = dark < 1.6
    q = rng.uniform(0.45, 0.8) if pale else rng.uniform(0.3, 0.5)
    floor = rng.uniform(0.15, 0.3) if pale else rng.uniform(0.25, 0.45)
    thick = np.maximum((t * (2.0 - t)) ** q, floor)

    # packed cells: nearest-seed distance (membranes) and per-cell values
    seeds = np.full((hh, ww), 255, np.uint8)
    gy = np.arange(c / 2, hh, c)
    gx = np.arange(c / 2, ww, c)
    sy, sx = np.meshgrid(gy, gx, indexing="ij")
    sy = np.clip(sy + rng.uniform(-0.45, 0.45, sy.shape) * c, 0, hh - 1).astype(int)
    sx = np.clip(sx + rng.uniform(-0.45, 0.45, sx.shape) * c, 0, ww - 1).astype(int)
    seeds[sy, sx] = 0
    dist, lab = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    per_cell = rng.standard_normal(int(lab.max()) + 1).astype(np.float32)
    membr = np.clip(dist / (0.5 * c), 0.0, 1.4) ** 2
    w_membr = rng.uniform(0.15, 0.5)
    tex = (
        w_membr * (membr - membr.mean()) / (membr.std() + 1e-6)
        + 0.6 * cv2.GaussianBlur(np.clip(per_cell[lab], -1.8, 1.8), (0, 0), max(0.8, c / 4))
        + 0.5 * _smooth_noise(rng, (hh, ww), max(0.6, c / 4))
        + 0.4 * _smooth_noise(rng, (hh, ww), max(1.5, c))
    )
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    mottle = _smooth_noise(rng, (hh, ww), max(2.0, radius / rng.uniform(3, 8)))
    t_amp = rng.uniform(0.15, 0.32) if pale else rng.uniform(0.07, 0.22)
    od = dark * thick * (1.0 + t_amp * tex + rng.uniform(0.05, 0.2) * mottle)

    # necrotic core: darker (debris) or paler (cavity) in big spheroids
    core = "none"
    if body.diameter > 170 * scale and rng.random() < 0.75:
        rcore = rng.uniform(0.3, 0.6) * radius
        ccx = shape.cx + rng.normal(0, 0.08) * radius - ox
        ccy = shape.cy + rng.normal(0, 0.08) * radius - oy
        yy, xx = np.mgrid[:hh, :ww].astype(np.float32)
        rc = np.sqrt((xx - ccx) ** 2 + (yy - ccy) ** 2) / rcore + 0.12 * mottle
        prof = _sigmoid((1.0 - rc) / rng.uniform(0.1, 0.3))
        if rng.random() < 0.7:
            core = "dark"
            od = od + dark * rng.uniform(0.25, 0.8) * prof
        else:
            core = "pale"
            od = od * (1.0 - rng.uniform(0.15, 0.4) * prof)
    # refraction at the curved surface: a darker band just inside the rim
    band = rng.uniform(0.1, 0.9) * np.exp(-((d_in / (rng.uniform(1.5, 5.0) * max(scale, 0.5))) ** 2))
    od = np.maximum(od + band, 0.0) * soft
    ph = np.zeros_like(od)
    if rng.random() < 0.45:  # slight defocus: bright halo just outside the rim
        ph += (
            rng.uniform(0.03, 0.12) * np.exp(-d_out / (rng.uniform(1.5, 5.0) * max(scale, 0.5))) * (1 - soft)
        )
    cv.od[isl] += od[csl]
    cv.ph[isl] += ph[csl]

    # a few protruding cells: attached, but a biologist outlines the dense body inside them
    perim = math.pi * body.diameter
    n_out = int(perim / c * (rng.uniform(0.02, 0.15) if body.fuzzy else rng.uniform(0.0, 0.03)))
    rim_a = min(dark, 2.0) * rng.uniform(0.1, 0.35)
    placed = 0
    for _ in range(n_out):
        phi = rng.uniform(0, 2 * math.pi)
        rcell = c * rng.uniform(0.3, 0.6)
        rr = shape.extent(phi) + c * 0.3 + rcell * rng.uniform(0.6, 1.5)
        x, y = shape.cx + rr * math.cos(phi), shape.cy + rr * math.sin(phi)
        if not cv.centre_free(x, y):
            continue
        _stamp_cell(
            cv.od,
            cv.ph,
            x,
            y,
            rcell,
            a=rim_a * rng.uniform(0.6, 1.3),
            ring=rng.uniform(0.0, 0.2),
            centre=rng.uniform(-0.03, 0.06),
            outer=rng.uniform(0.0, 0.04),
            soft=rng.uniform(0.8, 1.8) * max(scale, 0.5),
            aspect=1.0 + abs(rng.normal(0, 0.1)),
            ang=rng.uniform(0, math.pi),
        )
        placed += 1
    return {"dark": round(dark, 2), "core": core, "rim_cells": placed}


# --------------------------------------------------------------------------- distractors


def _add(cv: _Canvas, kind, x, y, r, touches=False, **info):
    cv.objects.append(Placed(kind, float(x), float(y), float(r), touches=touches, info=info))


def _loose_cells(rng, cv, n, scale, centres=None, spread=None, kind="cell"):
    """Loose single cells, uniformly or (with ``centres``) in halos around given points."""
    out = 0
    if centres is not None:  # bigger spheroids shed more cells
        weights = np.array([c[2] for c in centres]) ** 1.5
        weights = weights / weights.sum()
    for _ in range(n * 3):
        if out >= n:
            break
        rc = rng.uniform(4.0, 10.0) * scale
        if centres is not None:
            k = int(rng.choice(len(centres), p=weights))
            cx, cy, r0 = centres[k]
            phi = rng.uniform(0, 2 * math.pi)
            dd = r0 + abs(rng.normal(0, spread[k]))
            x, y = cx + dd * math.cos(phi), cy + dd * math.sin(phi)
            rc = rng.uniform(2.5, 5.5) * scale
        else:
            x, y = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        if not (0 <= x < cv.w and 0 <= y < cv.h):
            continue
        touches = centres is not None
        if not (cv.centre_free(x, y) if touches else cv.disc_free(x, y, rc * 1.6 + 2)):
            continue
        if touches and not cv.disc_free(x, y, rc * 0.5):
            continue
        defocus = rng.uniform(1.0, 5.0) * scale if rng.random() < 0.35 else 0.0
        if touches:  # shed cells: small, grey, granular, rarely neat rings
            look = _cell_look(
                rng, rc, defocus, str(rng.choice(["dark", "ringed", "pale"], p=[0.45, 0.15, 0.4]))
            )
            look["ring"] *= 0.6
            look["a"] *= 0.6
        else:
            look = _cell_look(rng, rc, defocus)
        _stamp_cell(cv.od, cv.ph, x, y, **look)
        _add(cv, kind, x, y, rc * 1.6 + 2, touches=touches)
        out += 1
    return out


def _cell_clusters(rng, cv, n, scale):
    out = 0
    for _ in range(n * 4):
        if out >= n:
            break
        k = int(rng.integers(3, 11))
        rc0 = rng.uniform(4.0, 9.0) * scale
        style = str(rng.choice(["dark", "ringed", "pale"], p=[0.4, 0.35, 0.25]))
        x0, y0 = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        pts = [(x0, y0, rc0)]
        for _ in range(k - 1):
            bx, by, br = pts[int(rng.integers(len(pts)))]
            rc = rc0 * rng.uniform(0.8, 1.2)
            phi = rng.uniform(0, 2 * math.pi)
            dd = (br + rc) * rng.uniform(0.85, 1.25)
            pts.append((bx + dd * math.cos(phi), by + dd * math.sin(phi), rc))
        xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
        rr = float(np.max(np.hypot(xs - xs.mean(), ys - ys.mean()))) + rc0 * 1.6 * 1.2 + 3
        if not cv.disc_free(float(xs.mean()), float(ys.mean()), rr):
            continue
        defocus = rng.uniform(1.0, 3.0) * scale if rng.random() < 0.2 else 0.0
        for x, y, rc in pts:
            _stamp_cell(cv.od, cv.ph, x, y, **_cell_look(rng, rc, defocus, style))
        _add(cv, "cluster", xs.mean(), ys.mean(), rr, cells=k)
        out += 1
    return out


def _vesicles(rng, cv, n, scale, bodies):
    out = 0
    for _ in range(n * 4):
        if out >= n:
            break
        bubble = rng.random() < 0.6
        rv = float(np.exp(rng.uniform(math.log(8), math.log(75 if bubble else 35)))) * scale
        if bodies and rng.random() < 0.3:  # nestled against a spheroid
            b = bodies[int(rng.integers(len(bodies)))]
            phi = rng.uniform(0, 2 * math.pi)
            dd = b.shape.extent(phi) + rv + rng.uniform(2, 6) * scale + 2 * b.cell
            x, y = b.shape.cx + dd * math.cos(phi), b.shape.cy + dd * math.sin(phi)
        else:
            x, y = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        ex = rng.uniform(1.0, 1.25)
        if not cv.disc_free(x, y, rv * ex + 4):
            continue
        win = _window(cv.od.shape, x, y, rv * ex + 8)
        if win is None:
            continue
        sl, dx, dy = win
        ang = rng.uniform(0, math.pi)
        u = (dx * math.cos(ang) + dy * math.sin(ang)) / ex
        v = -dx * math.sin(ang) + dy * math.cos(ang)
        r = np.sqrt(u * u + v * v)
        s = rng.uniform(0.7, 1.6) * max(scale, 0.5)
        inside = _sigmoid((rv - r) / (0.6 * s))
        if bubble:  # bubble / vesicle: thin dark ring, bright lens-like centre
            kind = "vesicle"
            cv.od[sl] += rng.uniform(0.12, 0.6) * np.exp(-(((r - rv) / (0.7 + s)) ** 2))
            cv.ph[sl] += rng.uniform(0.02, 0.1) * inside * np.clip(1 - (r / rv) ** 2, 0, 1) ** 0.5
            if rv > 25 * scale and rng.random() < 0.5:  # granular content
                g = _smooth_noise(rng, r.shape, 1.2 * max(scale, 0.5))
                cv.od[sl] += inside * np.clip(g, 0, None) * rng.uniform(0.03, 0.1)
        else:  # pale disc, slightly bright rim
            kind = "pale_disc"
            cv.od[sl] += rng.uniform(0.03, 0.1) * inside * (1 + 0.3 * _smooth_noise(rng, r.shape, 2.0))
            cv.ph[sl] += rng.uniform(0.0, 0.06) * np.exp(-(((r - rv - s) / (0.8 + s)) ** 2))
        _add(cv, kind, x, y, rv * ex + 2)
        out += 1
    return out


def _specks(rng, cv, n, scale, kind="debris"):
    """Small irregular dark debris (often a few together) or faint dust."""
    out = 0
    for _ in range(n * 4):
        if out >= n:
            break
        x0, y0 = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        group = int(rng.integers(1, 6)) if kind == "debris" and rng.random() < 0.3 else 1
        for _ in range(group):
            x, y = x0 + rng.normal(0, 12 * scale) * (group > 1), y0 + rng.normal(0, 12 * scale) * (group > 1)
            rs = (rng.uniform(1.5, 7.0) if kind == "debris" else rng.uniform(0.6, 2.0)) * max(scale, 0.5)
            if not cv.disc_free(x, y, rs * 1.5 + 4):
                continue
            win = _window(cv.od.shape, x, y, rs * 1.5 + 6)
            if win is None:
                continue
            sl, dx, dy = win
            nv = int(rng.integers(5, 10))
            ang = np.sort(rng.uniform(0, 2 * math.pi, nv))
            rad = rs * rng.uniform(0.4, 1.3, nv)
            pts = np.stack([x - sl[1].start + rad * np.cos(ang), y - sl[0].start + rad * np.sin(ang)], 1)
            poly = np.zeros(dx.shape, np.float32)
            cv2.fillPoly(poly, [np.round(pts * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
            blur = rng.uniform(0.4, 1.0) if rng.random() < 0.7 else rng.uniform(1.5, 3.5)
            poly = cv2.GaussianBlur(poly, (0, 0), blur * max(scale, 0.5))
            amp = rng.uniform(0.8, 3.0) if kind == "debris" else rng.uniform(0.05, 0.4)
            cv.od[sl] += amp * poly
            _add(cv, kind, x, y, rs * 1.5 + 2)
            out += 1
    return out


def _fibres(rng, cv, n, scale):
    out = 0
    for _ in range(n * 4):
        if out >= n:
            break
        length = rng.uniform(60, 420) * scale
        step = 3.0 * max(scale, 0.5)
        x, y = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        th = rng.uniform(0, 2 * math.pi)
        curl = rng.uniform(0.01, 0.12)
        pts = [(x, y)]
        for _ in range(int(length / step)):
            th += rng.normal(0, curl)
            x, y = x + step * math.cos(th), y + step * math.sin(th)
            pts.append((x, y))
        width = rng.uniform(0.8, 2.5) * max(scale, 0.5)
        if not all(cv.disc_free(px, py, width + 5) for px, py in pts[:: max(1, int(4 / step))]):
            continue
        arr = np.array(pts, np.float32)
        m = int(30 * max(scale, 0.5)) + 4
        x0, y0 = int(max(0, arr[:, 0].min() - m)), int(max(0, arr[:, 1].min() - m))
        x1, y1 = int(min(cv.w, arr[:, 0].max() + m + 1)), int(min(cv.h, arr[:, 1].max() + m + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        layer = np.zeros((y1 - y0, x1 - x0), np.float32)
        ipts = np.round((arr - [x0, y0]) * 4).astype(np.int32)
        cv2.polylines(
            layer, [ipts], False, 1.0, thickness=max(1, int(round(width))), lineType=cv2.LINE_AA, shift=2
        )
        layer = cv2.GaussianBlur(layer, (0, 0), rng.uniform(0.5, 1.2) * max(scale, 0.5))
        sl = (slice(y0, y1), slice(x0, x1))
        cv.od[sl] += rng.uniform(0.4, 1.6) * layer
        if rng.random() < 0.4:  # a faint sheet / fluff along it
            sheet = cv2.GaussianBlur(layer, (0, 0), rng.uniform(4, 9) * max(scale, 0.5))
            cv.od[sl] += rng.uniform(0.5, 2.0) * sheet
        mid = pts[len(pts) // 2]
        _add(cv, "fibre", mid[0], mid[1], width + 1, length=round(length))
        out += 1
    return out


def _blobs(rng, cv, n, scale):
    """Out-of-focus material: soft grey blobs and (in the optics) faint dust rings."""
    out = 0
    for _ in range(n * 4):
        if out >= n:
            break
        x, y = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        ring = rng.random() < 0.35
        r = (rng.uniform(10, 40) if ring else rng.uniform(5, 22)) * scale
        if not cv.disc_free(x, y, 2.2 * r):
            continue
        win = _window(cv.od.shape, x, y, 2.2 * r)
        if win is None:
            continue
        sl, dx, dy = win
        rr = np.sqrt(dx * dx + dy * dy)
        if ring:
            cv.ph[sl] += rng.uniform(-0.05, 0.05) * np.exp(-(((rr - r) / (0.2 * r + 1)) ** 2))
            cv.od[sl] += rng.uniform(0.0, 0.03) * _sigmoid((r - rr) / (0.1 * r + 1))
            _add(cv, "dust_ring", x, y, 1.6 * r)
        else:
            g = np.exp(-(rr**2) / (2 * (r * rng.uniform(0.4, 0.7)) ** 2))
            cv.od[sl] += rng.uniform(0.04, 0.3) * g
            _add(cv, "blur_blob", x, y, 1.6 * r)
        out += 1
    return out


# --------------------------------------------------------------------------- plate & camera


def _well(rng, cv: _Canvas):
    """Dark curved edge of a well crossing one corner, as a multiplicative factor; marks the
    region near and beyond it as off-limits for spheroids."""
    h, w = cv.h, cv.w
    size = min(h, w)
    rw = rng.uniform(1.3, 3.0) * size
    cut = rng.uniform(0.06, 0.2) * size  # how deep the wall reaches into the corner
    cx, cy = [(0, 0), (w, 0), (0, h), (w, h)][int(rng.integers(4))]
    ux, uy = (w / 2 - cx), (h / 2 - cy)
    norm = math.hypot(ux, uy)
    ux, uy = ux / norm, uy / norm
    # the well centre lies along the diagonal so that the wall is ``cut`` deep into the corner
    wx, wy = cx + ux * (rw + cut), cy + uy * (rw + cut)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    d = np.sqrt((xx - wx) ** 2 + (yy - wy) ** 2) - rw  # > 0 outside the well
    menisc = rng.uniform(0.15, 0.5) * np.exp(np.minimum(d, 0) / (rng.uniform(0.03, 0.12) * size))
    inside = 1.0 - menisc
    wall = np.exp(-rng.uniform(0.6, 2.0) * np.exp(-((d / (rng.uniform(3, 10) * size / 1000)) ** 2)))
    outside = rng.uniform(0.25, 0.6) * (1 + 0.1 * _lowfreq_field(rng, (h, w), 3))
    blend = _sigmoid(d / 2.0)
    factor = (inside * (1 - blend) + outside * blend) * wall
    cv.avoid |= d > -(rng.uniform(0.04, 0.1) * size) - 20
    return factor.astype(np.float32)


def _illumination(rng, h, w) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    size = float(max(h, w))
    f = np.ones((h, w), np.float32)
    th = rng.uniform(0, 2 * math.pi)
    f += rng.uniform(0.0, 0.15) * ((xx - w / 2) * math.cos(th) + (yy - h / 2) * math.sin(th)) / size
    if rng.random() < 0.6:  # off-centre vignetting
        vx, vy = w / 2 + rng.normal(0, 0.2) * w, h / 2 + rng.normal(0, 0.2) * h
        r = np.sqrt((xx - vx) ** 2 + (yy - vy) ** 2) / (0.75 * size)
        f *= 1.0 - rng.uniform(0.05, 0.45) * np.clip(r, 0, 1.3) ** rng.uniform(2.0, 4.0)
    if rng.random() < 0.4:  # a broad hot spot
        hx, hy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        f *= 1.0 + rng.uniform(0.03, 0.12) * np.exp(
            -((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * (0.35 * size) ** 2)
        )
    f *= 1.0 + rng.uniform(0.003, 0.02) * _lowfreq_field(rng, (h, w), 6)
    return f


# --------------------------------------------------------------------------- public API


def render(seed: int, size: tuple[int, int] = (1000, 1000)) -> Scene:
    """The full scene for ``seed``: image, labels and every placed object."""
    rng = np.random.default_rng(seed)
    h, w = int(size[0]), int(size[1])
    if h < 32 or w < 32:
        raise ValueError("size must be at least 32 x 32")
    scale = min(h, w) / 1000.0
    cv = _Canvas(h, w)

    bit16 = rng.random() < 1 / 3
    rgb = (not bit16) and rng.random() < 0.3
    fmt = "tif" if bit16 and rng.random() < 0.5 else "png"  # drawn first: the same at every size
    style = str(rng.choice(["clean", "dirty", "halo"], p=[0.3, 0.45, 0.25]))
    well = _well(rng, cv) if rng.random() < 0.2 else None

    bodies = _place_spheroids(rng, cv, scale)
    looks = [_render_body(rng, cv, b, scale) for b in bodies]
    for o, look in zip([o for o in cv.objects if o.label], looks, strict=True):
        o.info.update(look)

    # clutter per field area in units of a 1000 x 1000 field at this scale (objects and cells
    # scale with the short side): the same density at every size, 1 at 1000 x 1000
    area_k = h * w / (1000.0 * scale) ** 2
    if style == "halo" and bodies:
        centres = [(b.shape.cx, b.shape.cy, b.diameter / 2) for b in bodies]
        spread = [rng.uniform(0.2, 0.8) * b.diameter / 2 + 30 * scale for b in bodies]
        n_halo = rng.uniform(6, 20) * sum(b.diameter / 2 for b in bodies) / scale  # per body, not per field
        _loose_cells(rng, cv, int(min(n_halo, 5000)), scale, centres, spread, kind="halo_cell")
    elif bodies and rng.random() < 0.4:  # a few shed cells close to the rim
        centres = [(b.shape.cx, b.shape.cy, b.diameter / 2) for b in bodies]
        spread = [rng.uniform(0.1, 0.35) * b.diameter / 2 for b in bodies]
        _loose_cells(rng, cv, int(rng.integers(10, 80)), scale, centres, spread, kind="halo_cell")
    counts = {
        "clean": dict(
            cell=(0, 30), cluster=(0, 2), ves=(0, 3), debris=(0, 8), fibre=(0, 1), dust=(5, 40), blob=(0, 5)
        ),
        "dirty": dict(
            cell=(30, 300),
            cluster=(1, 7),
            ves=(1, 8),
            debris=(5, 45),
            fibre=(0, 3),
            dust=(20, 150),
            blob=(3, 15),
        ),
        "halo": dict(
            cell=(10, 120),
            cluster=(0, 4),
            ves=(0, 5),
            debris=(2, 25),
            fibre=(0, 2),
            dust=(10, 80),
            blob=(2, 10),
        ),
    }[style]

    def _n(key):
        lo, hi = counts[key]
        return int(rng.integers(lo, hi + 1) * area_k + (rng.random() < (hi * area_k) % 1))

    _loose_cells(rng, cv, _n("cell"), scale)
    _cell_clusters(rng, cv, _n("cluster"), scale)
    _vesicles(rng, cv, _n("ves"), scale, bodies)
    _specks(rng, cv, _n("debris"), scale, "debris")
    _fibres(rng, cv, _n("fibre"), scale)
    _specks(rng, cv, _n("dust"), scale, "dust")
    _blobs(rng, cv, _n("blob"), scale)

    # ---- optics and camera
    # out-of-focus material everywhere: a faint mottled background
    cv.od += rng.uniform(0.002, 0.01) * _smooth_noise(rng, (h, w), rng.uniform(6, 25) * max(scale, 0.3))
    trans = np.exp(-cv.od) * np.clip(1.0 + cv.ph, 0.2, None)
    psf = rng.uniform(0.6, 1.8) * max(scale, 0.5)
    trans = cv2.GaussianBlur(trans.astype(np.float32), (0, 0), psf)
    signal = trans * _illumination(rng, h, w)
    if well is not None:
        signal *= well
    if bit16:
        black = rng.uniform(1500, 2600)
        bg = rng.uniform(5200, 8800)
    else:
        black = rng.uniform(0, 8)
        bg = rng.uniform(170, 238)
    value = black + (bg - black) * signal
    rel_noise = rng.uniform(0.006, 0.016)
    read = rel_noise * 0.35 * (bg - black)
    shot_k = (rel_noise * (bg - black)) ** 2 / (bg - black)  # variance per count of signal
    chans = 3 if rgb else 1
    tint = 1.0 + rng.normal(0, 0.03, chans) if rgb else np.ones(1)
    planes = []
    for ci in range(chans):
        sd = np.sqrt(shot_k * np.maximum(value - black, 0) * tint[ci] + read**2).astype(np.float32)
        noise = rng.standard_normal((h, w)).astype(np.float32)
        if rng.random() < 0.3:  # a little spatial correlation (demosaicing / binning)
            noise = cv2.GaussianBlur(noise, (0, 0), 0.6) * 1.6
        planes.append(black + (value - black) * tint[ci] + sd * noise)
    img = np.stack(planes, -1) if rgb else planes[0]
    img = np.clip(np.round(img), 0, 65535 if bit16 else 255).astype(np.uint16 if bit16 else np.uint8)

    labels = cv.labels
    areas = np.bincount(labels.ravel(), minlength=len(bodies) + 1)
    for o in cv.objects:
        if o.label:
            o.area = int(areas[o.label])
    kinds = Counter(o.kind for o in cv.objects if o.label == 0)
    meta = {
        "seed": int(seed),
        "size": (h, w),
        "dtype": str(img.dtype),
        "rgb": bool(rgb),
        "style": style,
        "well_edge": well is not None,
        "psf_sigma": round(psf, 2),
        "distractors": dict(kinds),
        "format": fmt,
    }
    return Scene(img, labels, cv.objects, meta)


def generate(seed: int, size: tuple[int, int] = (1000, 1000)) -> tuple[np.ndarray, np.ndarray]:
    """(image, int32 label mask) for ``seed``; ``size`` is (height, width)."""
    scene = render(seed, size)
    return scene.image, scene.labels


# --------------------------------------------------------------------------- files


def overlay(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """BGR uint8 preview: the image stretched to 8 bits with each label's outline in colour."""
    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = grey @ np.array([0.299, 0.587, 0.114], np.float32)
    lo, hi = np.percentile(grey, [0.5, 99.5])
    g8 = np.clip((grey - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    out = cv2.cvtColor(g8, cv2.COLOR_GRAY2BGR)
    palette = [(0, 200, 255), (60, 220, 60), (255, 120, 40), (200, 60, 255), (40, 40, 255), (255, 255, 0)]
    for lab in range(1, int(labels.max()) + 1):
        m = (labels == lab).astype(np.uint8)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        col = palette[(lab - 1) % len(palette)]
        cv2.drawContours(out, contours, -1, col, 2)
        ys, xs = np.nonzero(m)
        if len(xs):
            cv2.putText(
                out,
                str(lab),
                (int(xs.mean()) - 6, int(ys.mean()) + 6),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.7,
                col,
                2,
                cv2.LINE_AA,
            )
    return out


def write_set(
    out: Path, n: int, seed: int, size: tuple[int, int] = (1000, 1000), quiet: bool = False
) -> list[Path]:
    """Write ``n`` scenes (seeds ``seed .. seed + n - 1``); returns the image paths."""
    out = Path(out)
    for sub in ("images", "masks", "overlays"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        s = seed + i
        scene = render(s, size)
        name = f"holdout_{s}"
        img = scene.image
        if scene.meta["format"] == "tif":
            import tifffile

            p = out / "images" / f"{name}.tif"
            tifffile.imwrite(p, img)
        else:
            p = out / "images" / f"{name}.png"
            cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
        cv2.imwrite(str(out / "masks" / f"{name}.png"), scene.labels.astype(np.uint16))
        cv2.imwrite(str(out / "overlays" / f"{name}.png"), overlay(img, scene.labels))
        paths.append(p)
        if not quiet:
            sph = scene.spheroids
            touch = sum(1 for o in sph if o.info.get("touching"))
            dis = ", ".join(f"{k}={v}" for k, v in sorted(scene.meta["distractors"].items())) or "none"
            kind = f"{scene.meta['dtype']}{' RGB' if scene.meta['rgb'] else ''}"
            print(
                f"{p.name:22s} {kind:11s} {scene.meta['style']:5s} spheroids={len(sph)} (touching {touch}, "
                f"areas {[o.area for o in sph]}){' well-edge' if scene.meta['well_edge'] else ''}  "
                f"distractors: {dis}"
            )
    return paths


def parse_size(text: str) -> tuple[int, int]:
    """``N`` -> (N, N), ``HxW`` -> (H, W), at least 32 px each (an ``argparse`` type)."""
    try:
        hh, ww = text.lower().split("x") if "x" in text.lower() else (text, text)
        size = int(hh), int(ww)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is no size: N or HxW") from None
    if min(size) < 32:
        raise argparse.ArgumentTypeError("a size must be at least 32 px")
    return size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ml.holdout", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True, help="output folder (images/, masks/, overlays/)")
    ap.add_argument("--n", type=int, default=30, help="number of images")
    ap.add_argument("--seed", type=int, default=11, help="first seed; image i uses seed + i")
    ap.add_argument("--size", type=parse_size, default=(1000, 1000), help="N or HxW (default 1000)")
    args = ap.parse_args(argv)
    write_set(args.out, args.n, args.seed, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
