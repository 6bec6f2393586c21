"""Segmentation engine: image array -> measured object outlines.

Public API (others code against these names):
``segment``, ``SegmentationResult``, ``Cancelled``, ``list_models``, ``get_model_card``,
``ModelCard``, ``measure_polygons``, ``fine_tune``, ``use_card``, ``DEFAULT_MODEL``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy import ndimage as ndi

from ml import classical as _classical
from ml import complete as _complete
from ml.geometry import polygon_area, rasterize
from ml.io import normalize_with_masks
from ml.metrics import border_edges, measure, measure_polygons, touches_border
from ml.postprocess import instances, label_pieces, mask_solidity, outlines
from ml.refine import MAX_BAND, MAX_REACH, REACH_PER_RADIUS, REPEATS, _open, band_for_scale, refine_mask

log = logging.getLogger(__name__)

__all__ = ["segment", "SegmentationResult", "Cancelled", "ModelCard", "list_models", "get_model_card",
           "measure_polygons", "fine_tune", "use_card", "DEFAULT_MODEL", "ModelLoadError"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "spheroseg-unet"
TILE = 320
TILE_OVERLAP = 64
REFINE = True  # full-resolution boundary refinement (ml.refine) for every model
# a network's outline that a repeated refinement pass would carry to the image border keeps the
# outline it had (a dark vignetted corner or a well's edge beside a spheroid, not its rim)
REFINE_STOP_AT_BORDER = True
# ... and one that would leave it less solid by more than this keeps it too (a leak along a dark
# tail, a vignetted edge or a halo, not the body's rim; None: off)
REFINE_MAX_SOLIDITY_DROP: float | None = 0.06
# a network object's refinement re-decides only pixels nearer to it than to any other object:
# a dark spheroid does not take the unmarked rim of a grey one it touches (the classical baseline,
# whose map marks many small pieces, keeps the plain refinement)
REFINE_NEAREST_ONLY = True
_K3 = np.ones((3, 3), np.uint8)
_DISC5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
_K5 = np.ones((5, 5), np.uint8)
# a network object whose mean grey lies less than this below the background around it
# (normalised grey) is not reported: a spheroid is a dense body that absorbs light; a pale disc,
# a vesicle or an out-of-focus blob is barely darker than its surroundings (None: off)
MIN_CONTRAST: float | None = 0.15
# an object under the card's confidence floor is still reported from this confidence when it is
# compact and round (solidity, circularity at least COMPACT_MIN_SOLIDITY / _CIRCULARITY) and off
# the image border: a grey spheroid the network marks weakly but outlines whole (None: off)
COMPACT_MIN_CONFIDENCE: float | None = 0.55
COMPACT_MIN_SOLIDITY = 0.9
COMPACT_MIN_CIRCULARITY = 0.7
CONTRAST_RING = 0.25  # the ring around an object reaches this x its equivalent radius out (at least 4 px)
CONTRAST_BACKGROUND = 75  # percentile of the ring's grey taken as background: loose cells in it are darker
# a hole in an object is filled when its grey lies at least this share of the object's own
# contrast away from the background around it (None: off): a spheroid's pale middle, not the
# background seen through a ring (``_body_holes_filled``)
HOLE_MIN_SHARE: float | None = 0.15
# a ragged object (solidity under GRANULAR_MAX_SOLIDITY, the rescue's floor for compact),
# granular at the scale of one cell (``_fine_texture`` inside it over its contrast above
# MAX_GRANULARITY) and at least GRANULAR_MIN_RING_SHARE x as granular as the free ring around it
# is not reported: a clump of loose cells shows its cells and the light between them like the
# loose cells around it, only denser; a spheroid's packed cells are one dense body, smoother
# than a halo of loose cells around it (None: off)
MAX_GRANULARITY: float | None = 0.11
GRANULAR_MAX_SOLIDITY = 0.85
GRANULAR_MIN_RING_SHARE = 0.55
# the classical objects a network missed are added (``_rescue_missed``) from this x the minimum area
RESCUE_MIN_AREA_FACTOR = 5.0  # 0 turns the rescue off
RESCUE_MAX_OVERLAP = 0.05  # a missed object may touch the model's objects by this share of its area
RESCUE_MIN_SOLIDITY = 0.85  # and must be compact: a clump of loose cells is ragged
RESCUE_MIN_MARKED = 0.4  # refinement may move a rescued object's edge and reach its rim, not make up most of it
# the classical threshold for the rescue is taken outside the model's objects, on what is mostly
# background and loose cells: darkness below this is not taken, whatever Otsu finds there
RESCUE_MIN_DARKNESS = 0.25
# a rescue candidate clear of every network object that its refinement made ragged by taking
# in loose cells around it is tried opened (by a disc of OPENED_RADIUS x its equivalent radius,
# its largest piece kept): it is taken when the opening leaves OPENED_MIN_SHARE of it, as solid
# as the compact rule asks (COMPACT_MIN_SOLIDITY; a shape cut out of a ragged one must be
# clearly compact), and smoother than the free ring around it (granularity under
# GRANULAR_MIN_RING_SHARE x the ring's): a body with loose cells stuck to its rim, not a clump
# of loose cells (None: off)
OPENED_RADIUS: float | None = 0.2
OPENED_MIN_SHARE = 0.6
# small objects nothing else found are looked at this x closer than the working scale
# (``_closer_look``, after the rescues; 0 turns it off), in at most CLOSER_MAX_WINDOWS windows,
# and taken when, refined, they are compact, round, smoother than their ring and soft-edged:
# edge sharpness (``ObjectLook``, about 1 / the edge's width in px) under
# CLOSER_MAX_EDGE_SHARPNESS (a flat shard of debris has a sharp edge)
CLOSER_FACTOR = 2.0
CLOSER_MAX_WINDOWS = 16
CLOSER_MAX_EDGE_SHARPNESS = 0.2
RESCUE_GREY_AREA_FACTOR = 8.0  # _rescue_grey: from this x the minimum area (0 turns it off)
# ... and from this x the minimum area when compact and round as COMPACT_MIN_SOLIDITY and
# COMPACT_MIN_CIRCULARITY ask (a small grey spheroid, often beside a dark one; 0 turns it off)
RESCUE_GREY_SMALL_FACTOR = 2.0
# then a third rescue, of large grey bodies (``_rescue_grey(..., large=True)``): the baseline's
# background taken out by a closing of RESCUE_LARGE_BACKGROUND px at 64 px (objects up to
# about half the field; the baseline's own, 23, keeps a spheroid wider than a third of the
# field in its background, and its map of such a body is ragged), candidates from a disc of
# RESCUE_LARGE_MIN_DIAMETER x the short side, and only where they cover every object found that
# they overlap (0 turns it off)
RESCUE_LARGE_BACKGROUND = 35
RESCUE_LARGE_MIN_DIAMETER = 0.25
# a solid network object that is only the marked part of a grey body (at most this share of the
# second rescue's piece around it, grey itself and darker than the rest of the piece by at most
# PARTLY_MARKED_MAX_DARKER of the normalised grey) does not keep the second rescue away: a
# rescued body that covers it replaces it (0 turns it off)
PARTLY_MARKED_MAX_SHARE = 0.8
PARTLY_MARKED_MAX_DARKER = 0.2
PARTLY_MARKED_MIN_GREY = 0.3  # ... and is itself grey (mean normalised grey), not a dark spheroid
PARTLY_MARKED_MIN_COVER = 0.9  # ... and only by a rescued body that covers this share of it
# an object under the floor that step 5 split off a reported object, compact, round and marked
# by the second rescue's map, is a grey body the refinement had merged into it (``_split_off_grey``)
SPLIT_OFF_GREY = True
# an object whose outline fills OVERLAY_MIN_EXTENT of its axis-aligned bounding box (holes not
# counted) and is mostly of one grey (OVERLAY_MIN_FLAT_SHARE of its pixels 2 px in from its edge
# within OVERLAY_FLAT_TOLERANCE of their median, normalised grey) is a burned-in overlay, a scale
# bar or a label box with text on it: a spheroid is textured and round (extent about pi / 4);
# not reported, for every model (None: off)
OVERLAY_MIN_EXTENT: float | None = 0.9
# the dark and coloured burned-in overlays ml.io.normalize_with_masks finds are painted over before anything is outlined
PAINT_OVERLAYS = True
OVERLAY_MIN_FLAT_SHARE = 0.6
OVERLAY_FLAT_TOLERANCE = 0.02
COMPLETE = True  # ml.complete: partly outlined bodies completed (U-Net models; False turns it off)
_REFINE_MARGIN = (1 + REPEATS) * (MAX_REACH + MAX_BAND + 2)  # the farthest refinement reaches (and looks) out
OUTSIDE_FIELD_MAX_SHARE = 0.5  # objects this much in the field's dark outside (ml.io.outside_field) are not reported
OUTSIDE_EDGE_MAX_BEYOND = 0.1  # outside_a_round_edge: the share of the object beyond the chord
# an object whose outline runs along the image border for less than this x its equivalent
# diameter only grazes the border (a chord that short cuts off about 1 % of a disc's radius):
# the border floor does not treat it as cut by the border, when its outline is round enough
# (circularity at least BORDER_GRAZE_MIN_CIRCULARITY; clumps of loose cells that reach into the
# image there are ragged). A spheroid that leaked to the border by a few pixels is reported.
BORDER_GRAZE = 0.15
BORDER_GRAZE_MIN_CIRCULARITY = 0.5
# an object the border floor drops is split again with the border taken as no edge of it
# (``_split_at_border``): a spheroid joined to a neighbour the border cuts was lost with it
BORDER_SPLIT = True
# a second, coarser network pass (``_coarse_bodies``) at this x the working scale: a large,
# evenly grey spheroid fills more than the network's view at the working size and is left
# unmarked there, beside a dark one most of all (0 turns it off). Its objects that the working
# size does not mark, at least COARSE_MIN_DIAMETER x the short side across (a disc of that
# size), RESCUE_MIN_SOLIDITY solid and off the border, take the coarse probability.
COARSE_FACTOR = 0.35
COARSE_MIN_DIAMETER = 0.2
COARSE_MIN_SIDE = 128  # px of the short side at the coarse scale: a smaller image gets no coarse pass


class Cancelled(Exception):
    """Raised when ``should_cancel()`` returns True at a stage boundary."""


class ModelLoadError(RuntimeError):
    """Unknown model, missing weights or a weights file whose SHA-256 does not match its card."""


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    kind: str  # "unet" | "classical"
    sha256: str | None
    parameters: int
    description: str
    metrics: dict = field(default_factory=dict)
    default: bool = False
    weights: str | None = None
    working_size: int | None = None
    channels: tuple | None = None
    training: dict = field(default_factory=dict)
    min_confidence: float | None = None  # objects below it (at threshold 0.5) are not reported
    border_min_solidity: float | None = None  # objects touching the border below it are not reported
    weights_dir: str | None = None  # folder of ``weights`` when it is not WEIGHTS_DIR (``use_card``)


@dataclass(frozen=True)
class SegmentationResult:
    width: int
    height: int
    model_name: str
    model_version: str
    polygons: list
    timings: dict

    def to_json(self, image: str | None = None) -> dict:
        return {"image": image, "width": self.width, "height": self.height,
                "model": {"name": self.model_name, "version": self.model_version},
                "polygons": self.polygons}


# --------------------------------------------------------------------------- model registry

_CLASSICAL_CARD = ModelCard(
    name=_classical.NAME, version=_classical.VERSION, kind="classical", sha256=None, parameters=0,
    description="OpenCV baseline: flat-field correction, Gaussian smoothing, Otsu threshold on darkness, "
                "morphological opening/closing, then the same splitting and outline steps as the U-Net.",
    metrics={}, default=False, working_size=_classical.WORK_SIZE)

_cards_lock = threading.Lock()
_cards: dict[str, ModelCard] | None = None


def _working_size(inp: dict) -> int:
    """The card's working size: the short side of the image at the scale the model runs at (a
    card written before 2026-11-30 names it ``working_long_side_px``, measured on square images)."""
    return int(inp.get("working_short_side_px", inp.get("working_long_side_px", 320)))


def _unet_card(d: dict, weights_dir: str | None = None) -> ModelCard:
    return ModelCard(
        name=d["name"], version=d["version"], kind="unet", sha256=d.get("sha256"),
        parameters=int(d.get("parameters", 0)), description=d.get("description", ""),
        metrics=d.get("metrics", {}), default=d["name"] == DEFAULT_MODEL,
        weights=d.get("weights"), working_size=_working_size(d.get("input", {})),
        channels=tuple(d.get("architecture", {}).get("channels", ())) or None,
        training=d.get("training", {}),
        min_confidence=d.get("postprocess", {}).get("min_confidence"),
        border_min_solidity=d.get("postprocess", {}).get("border_min_solidity"), weights_dir=weights_dir)


def _read_cards() -> dict[str, ModelCard]:
    global _cards
    with _cards_lock:
        if _cards is None:
            cards: dict[str, ModelCard] = {}
            for p in sorted(WEIGHTS_DIR.glob("*.json")):
                try:
                    d = json.loads(p.read_text())
                except (OSError, ValueError) as exc:
                    log.warning("skipping unreadable model card %s: %s", p.name, exc)
                    continue
                if d.get("kind") != "unet":
                    continue
                cards[d["name"]] = _unet_card(d)
            cm = dict(_CLASSICAL_CARD.metrics)
            extra = WEIGHTS_DIR / "classical.metrics.json"
            if extra.is_file():
                try:
                    cm = json.loads(extra.read_text())
                except (OSError, ValueError) as exc:
                    log.warning("ignoring unreadable %s: %s", extra.name, exc)
            cards[_classical.NAME] = ModelCard(**{**_CLASSICAL_CARD.__dict__, "metrics": cm})
            _cards = cards
        return _cards


def use_card(path: str | os.PathLike, *, min_confidence: float | None = None,
             border_min_solidity: float | None = None) -> ModelCard:
    """Serve the U-Net card at ``path`` (weights beside it) under its name in this process,
    replacing a shipped model of that name (evaluating a scratch training run). ``min_confidence``
    and ``border_min_solidity`` override the card's floors (None keeps them, 0 turns one off)."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read model card {p}: {exc}") from exc
    if d.get("kind") != "unet" or not d.get("name"):
        raise ModelLoadError(f"{p} is not a U-Net model card.")
    card = _unet_card(d, str(p.resolve().parent))
    if min_confidence is not None:
        card = replace(card, min_confidence=min_confidence or None)
    if border_min_solidity is not None:
        card = replace(card, border_min_solidity=border_min_solidity or None)
    cards = _read_cards()
    with _model_lock:
        cards[card.name] = card
        _models.pop(card.name, None)
    return card


def list_models() -> list[ModelCard]:
    return list(_read_cards().values())


def get_model_card(name: str) -> ModelCard:
    cards = _read_cards()
    if name not in cards:
        raise ModelLoadError(f"Unknown model {name!r}; available: {', '.join(cards)}")
    return cards[name]


_model_lock = threading.Lock()
_models: dict[str, object] = {}
_threads_set = False


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load_unet(card: ModelCard):
    global _threads_set
    with _model_lock:
        if card.name in _models:
            return _models[card.name]
        import torch

        if not _threads_set:
            n = os.environ.get("ML_NUM_THREADS")
            if n:
                torch.set_num_threads(max(1, int(n)))
            _threads_set = True
        model = _unet_from_card(card).fuse_for_inference()
        dev = _device()
        model = model.to(dev)
        if dev.type == "cpu":
            model = model.to(memory_format=torch.channels_last)
        _models[card.name] = model
        return model


# --------------------------------------------------------------------------- inference


def _unet_from_card(card: ModelCard):
    """A fresh ``ResUNet`` (eval mode, CPU, float32) with the card's weights, refused when the
    file's SHA-256 does not match the card."""
    import io

    import torch

    from ml.model import ResUNet

    if not card.weights:
        raise ModelLoadError(f"Model {card.name!r} has no weights file in its card.")
    path = (Path(card.weights_dir) if card.weights_dir else WEIGHTS_DIR) / card.weights
    if not path.is_file():
        raise ModelLoadError(f"Weights file {path} for model {card.name!r} is missing.")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if card.sha256 and digest != card.sha256:
        raise ModelLoadError(
            f"Weights file {path.name} does not match its model card (sha256 {digest[:12]}..., "
            f"expected {card.sha256[:12]}...): refusing to load it.")
    sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    model = ResUNet(card.channels) if card.channels else ResUNet()
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()})
    return model.eval()


def _pad16(a: np.ndarray) -> tuple[np.ndarray, int, int]:
    h, w = a.shape
    ph, pw = (-h) % 16, (-w) % 16
    if ph or pw:
        a = cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REFLECT)
    return a, h, w


def _run_net(model, batch: np.ndarray) -> np.ndarray:
    import torch

    dev = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(batch[:, None]))
    if dev.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = torch.sigmoid(model(x.to(dev))).float().cpu().numpy()
    return y


def _net_at_scale(model, gray: np.ndarray, scale: float) -> np.ndarray:
    """Probabilities (2 x h' x w') of the network on ``gray`` resized by ``scale`` (tiled if large)."""
    h, w = gray.shape
    sh, sw = max(16, round(h * scale)), max(16, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    g = cv2.resize(gray, (sw, sh), interpolation=interp) if (sh, sw) != (h, w) else gray
    if sh * sw <= (2 * TILE) ** 2:  # one pass up to the area of a 640 x 640 input, whatever its shape
        a, h0, w0 = _pad16(g)
        return _run_net(model, a[None])[0][:, :h0, :w0]
    # overlapping tiles with linear blending; memory stays bounded by the scaled image
    out = np.zeros((2, sh, sw), np.float32)
    wsum = np.zeros((sh, sw), np.float32)
    step = TILE - TILE_OVERLAP
    ramp = np.minimum(np.arange(TILE) + 1, np.arange(TILE)[::-1] + 1).astype(np.float32)
    ramp = np.minimum(ramp / TILE_OVERLAP, 1.0)
    wt = np.outer(ramp, ramp)
    ys = list(range(0, max(1, sh - TILE) + 1, step))
    xs = list(range(0, max(1, sw - TILE) + 1, step))
    if ys[-1] + TILE < sh:
        ys.append(sh - TILE)
    if xs[-1] + TILE < sw:
        xs.append(sw - TILE)
    for y0 in ys:
        for x0 in xs:
            tile = g[y0:y0 + TILE, x0:x0 + TILE]
            a, th, tw = _pad16(tile)
            p = _run_net(model, a[None])[0][:, :th, :tw]
            ww = wt[:th, :tw]
            out[:, y0:y0 + th, x0:x0 + tw] += p * ww
            wsum[y0:y0 + th, x0:x0 + tw] += ww
    out /= np.maximum(wsum, 1e-6)
    return out


def _unet_prob(card: ModelCard, gray: np.ndarray, threshold: float, min_area_px: int, timings: dict):
    model = _load_unet(card)
    h, w = gray.shape
    work = card.working_size or 320
    # the short side sets the scale: objects look as large in a wide field as in a square one
    s0 = min(2.0, work / min(h, w))
    t = time.perf_counter()
    p = _net_at_scale(model, gray, s0)
    scale = s0
    # detail pass: objects too small at the working size -> overlapping tiles at a finer scale
    fg = (p[0] >= threshold).astype(np.uint8)
    n, _, stats = label_pieces(fg)
    min_area_w = min_area_px * s0 * s0
    areas = [a for a in stats[1:, 4] if a >= max(4.0, 0.5 * min_area_w)]
    if areas and s0 < 0.9:
        d_med = 2 * np.sqrt(np.median(areas) / np.pi)
        if d_med < 24:
            s1 = min(1.0, s0 * 48.0 / max(d_med, 1.0))
            if s1 > 1.5 * s0:
                p = _net_at_scale(model, gray, s1)
                scale = s1
    coarse = _coarse_bodies(model, gray, s0, p[0], threshold) if COARSE_FACTOR else None
    timings["inference"] = time.perf_counter() - t
    timings["inference_scale"] = round(scale, 4)
    t = time.perf_counter()
    if p.shape[1:] != (h, w):
        prob = cv2.resize(p[0], (w, h), interpolation=cv2.INTER_LINEAR)
        contact = cv2.resize(p[1], (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        prob, contact = p[0], p[1]
    if coarse is not None:
        coarse_prob, body = (cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR) for a in coarse)
        prob = np.where(body > 0.5, np.maximum(prob, coarse_prob), prob).astype(np.float32)
    timings["upsample"] = time.perf_counter() - t
    return prob, contact


def _coarse_bodies(model, gray: np.ndarray, s0: float, fine: np.ndarray,
                   threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Large bodies the network marks only at a coarser scale (``COARSE_FACTOR`` x ``s0``): its
    objects there, less what the working-size map ``fine`` marks (grown by 2 px, then opened by a
    3 px disc: a dark spheroid's rim is no body), at least ``COARSE_MIN_DIAMETER`` x the short
    side across, ``RESCUE_MIN_SOLIDITY`` solid and off the border -> (the coarse probability,
    where those bodies are (grown by 2 px)), both at the coarse scale; None when there are none
    or the image is too small for a coarser pass. ``fine`` is the network's map at any scale."""
    h, w = gray.shape
    sc = s0 * COARSE_FACTOR
    if min(h, w) * sc < COARSE_MIN_SIDE:
        return None
    coarse = _net_at_scale(model, gray, sc)[0]
    ch, cw = coarse.shape
    marked = cv2.resize((fine >= threshold).astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST)
    free = _open(((coarse >= threshold) & (cv2.dilate(marked, _K5) == 0)).astype(np.uint8), 3)
    d = COARSE_MIN_DIAMETER * min(ch, cw)
    lab, stats, keep = _object_pieces(free, np.pi / 4 * d * d, RESCUE_MIN_SOLIDITY)
    keep &= _boxes_off_border(*stats[:, :4].T, cw, ch)
    if not keep.any():
        return None
    return coarse.astype(np.float32, copy=False), cv2.dilate(keep[lab].astype(np.uint8), _K5).astype(np.float32)


def _closer_look(model, gray: np.ndarray, prob: np.ndarray, mask: np.ndarray | None, cp: np.ndarray, s0: float,
                 threshold: float, min_area: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Small objects that neither the network at the working scale ``s0`` nor the rescues found
    (the objects of ``mask``, or of ``prob`` without one), looked at ``CLOSER_FACTOR`` x closer.
    The classical map ``cp`` (at its working size) proposes them: its pieces outside the objects
    found (grown by 2 px, opened by 2 px) of ``min_area`` px or more and under
    ``RESCUE_MIN_AREA_FACTOR`` x that, off the border, at most ``CLOSER_MAX_WINDOWS``. A window
    of ``TILE`` px at the closer scale around each is run through the network (one batch). A
    piece it marks there over a candidate, clear of the objects found, of ``min_area`` px or
    more, ``RESCUE_MIN_SOLIDITY`` and as round as the compact rule asks, is refined
    (``ml.refine``, its probability grown by a quarter of its radius: the soft rim) and taken
    when it is ``_a_small_spheroid``, with the closer probability. -> (``prob``, mask), updated
    copies (the mask unchanged, possibly None, when nothing is looked at)."""
    h, w = gray.shape
    s1 = min(1.0, CLOSER_FACTOR * s0)
    if s1 < 1.5 * s0:
        return prob, mask
    s = cp.shape[0] / h
    fg = (prob >= threshold).astype(np.uint8) if mask is None else mask
    fg_s = cv2.resize(fg, cp.shape[::-1], interpolation=cv2.INTER_NEAREST) if s < 1 else fg
    taken = _model_objects(fg_s, min_area * s * s)
    cand = cv2.morphologyEx(((cp >= threshold) & ~taken).astype(np.uint8), cv2.MORPH_OPEN, _DISC5)
    n, lab, stats = label_pieces(cand)
    x, y, bw, bh, area = stats.T
    ok = (area >= min_area * s * s) & (area < RESCUE_MIN_AREA_FACTOR * min_area * s * s)
    ok &= _boxes_off_border(x, y, bw, bh, cp.shape[1], cp.shape[0])
    ok[0] = False
    if not ok.any():
        return prob, mask
    lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST) if s < 1 else lab
    side = min(int(round(TILE / s1)), h, w)
    windows = []
    for i in np.flatnonzero(ok)[:CLOSER_MAX_WINDOWS]:
        cx, cy = (x[i] + bw[i] / 2) / s, (y[i] + bh[i] / 2) / s
        x0 = int(np.clip(round(cx - side / 2), 0, w - side))
        y0 = int(np.clip(round(cy - side / 2), 0, h - side))
        windows.append((i, x0, y0))
    ts = max(16, round(side * s1))
    batch = np.stack([_pad16(cv2.resize(gray[y0:y0 + side, x0:x0 + side], (ts, ts), interpolation=cv2.INTER_AREA))[0]
                      for _, x0, y0 in windows])
    out = _run_net(model, batch)[:, 0, :ts, :ts]
    prob, fg = prob.copy(), fg.copy()
    found_all = _model_objects(fg, min_area)  # the objects found, grown by 2 px; the bodies taken join them
    for (i, x0, y0), p in zip(windows, out, strict=True):
        p = cv2.resize(p, (side, side), interpolation=cv2.INTER_LINEAR)
        mine = lab[y0:y0 + side, x0:x0 + side] == i
        found = found_all[y0:y0 + side, x0:x0 + side].copy()
        pieces, st, keep = _object_pieces(((p >= threshold) & ~found).astype(np.uint8), min_area, RESCUE_MIN_SOLIDITY)
        keep &= np.bincount(pieces[mine], minlength=len(st)) > 0
        g = gray[y0:y0 + side, x0:x0 + side]
        for j in np.flatnonzero(keep):
            piece = (pieces == j).astype(np.uint8)
            if not _round_enough(piece > 0, (min_area, COMPACT_MIN_SOLIDITY, COMPACT_MIN_CIRCULARITY)):
                continue
            r = max(1, int(round(0.25 * np.sqrt(st[j, 4] / np.pi))))
            grown = (cv2.dilate(piece, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0) & ~found
            mine_p = np.where(grown, p, 0.0).astype(np.float32)
            body = refine_mask(g, mine_p, threshold, band=band_for_scale(s0), min_area_px=min_area,
                               nearest_only=REFINE_NEAREST_ONLY, clear_of=found) > 0 if REFINE else mine_p >= threshold
            if not body.any():
                continue
            look = _look(g, body.astype(np.uint8), ~(found | body), np.sqrt(body.sum() / np.pi), granular=True)
            if _a_small_spheroid(body, look):
                sub = prob[y0:y0 + side, x0:x0 + side]
                sub[body] = np.maximum(sub[body], p[body])
                fg[y0:y0 + side, x0:x0 + side][body] = 1
                found_all[y0:y0 + side, x0:x0 + side] |= cv2.dilate(body.astype(np.uint8), _K5) > 0
    return prob, fg


def _rescue_missed(gray: np.ndarray, prob: np.ndarray, mask: np.ndarray | None, threshold: float,
                   min_area: int, rescue_area: float, cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add the classical baseline's objects that the model missed (a grey spheroid, or an
    aggregate of visible cells, that the network marks weakly or not at all): refined like the
    model's objects, those of at least ``rescue_area`` px and ``RESCUE_MIN_SOLIDITY``, off the
    image border and clear of the model's objects (touching them by at most
    ``RESCUE_MAX_OVERLAP`` of their area). Their probability is the classical one (``cp``, the
    baseline's map at its working size). Candidates are found at that size; only they are
    refined at full size."""
    fg = (prob >= threshold).astype(np.uint8) if mask is None else mask
    h, w = fg.shape
    s = cp.shape[0] / h
    fg_s = cv2.resize(fg, cp.shape[::-1], interpolation=cv2.INTER_NEAREST) if s < 1 else fg
    # refinement grows an object by REACH_PER_RADIUS x its radius at most: smaller ones cannot make it
    seed_area = max(min_area, rescue_area / (1 + REACH_PER_RADIUS) ** 2) * s * s
    picked = _clear_of(cp >= threshold, _model_objects(fg_s, min_area * s * s), seed_area)
    if not picked.any():
        return prob, fg
    cp, picked = _refined(gray, cp, picked, threshold, min_area, fg)
    taken = _model_objects(fg, min_area)
    picked = _clear_of(picked, taken, rescue_area, RESCUE_MIN_SOLIDITY, gray=gray) & ~taken
    return np.where(picked, np.maximum(cp, prob), prob), (fg | picked).astype(np.uint8)


def _rescue_grey(gray: np.ndarray, prob: np.ndarray, fg: np.ndarray, threshold: float,
                 min_area: int, rescue_area: float, large: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Second rescue, for large grey bodies beside dark spheroids (after ``_rescue_missed``):
    the classical threshold is taken only outside the objects found so far (a dark spheroid
    sets the baseline's own threshold above a grey body's darkness), at ``RESCUE_MIN_DARKNESS``
    at least. Candidates of at least ``rescue_area`` px and ``RESCUE_MIN_SOLIDITY`` (holes count),
    off the border, clear of the solid objects found so far (less those that only mark part of
    a grey body, ``_partly_marked``) and mostly marked by the map they were refined from are
    added; each replaces the ragged objects it overlaps and the partly marking ones it covers
    (``_covering``), its probability the classical one. With ``large`` (the third rescue): the
    baseline's background closed by ``RESCUE_LARGE_BACKGROUND``, no small compact path, and a
    candidate must cover every object it overlaps."""
    h, w = fg.shape
    sh, sw = _classical.work_shape(h, w)
    s = sh / h

    def at_work_size(m):
        return cv2.resize(m, (sw, sh), interpolation=cv2.INTER_NEAREST) if (sh, sw) != (h, w) else m

    found = _model_objects(at_work_size(fg), min_area * s * s)
    cp = _classical.classical_prob(gray, at_work_size=True, exclude=found, min_threshold=RESCUE_MIN_DARKNESS,
                                   background_size=RESCUE_LARGE_BACKGROUND if large else _classical.BACKGROUND_SIZE)
    # a rescued object must be mostly (RESCUE_MIN_MARKED) its seed: smaller seeds cannot make it
    seed_area = max(min_area, 0.9 * RESCUE_MIN_MARKED * rescue_area) * s * s
    if large and label_pieces(((cp >= threshold) & ~found).astype(np.uint8))[2][1:, 4].max(initial=0) < seed_area:
        return prob, fg  # no seed that large outside the objects found: the common case, decided cheaply
    blocking, partly = fg, None  # the model's objects that a candidate must stay clear of (the solid ones)
    if PARTLY_MARKED_MAX_SHARE:
        marked = cp >= threshold
        if (sh, sw) != (h, w):
            marked = cv2.resize(marked.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        partly = _partly_marked(gray, fg, marked, min_area)
        if partly.any():
            blocking = (fg & ~partly).astype(np.uint8)
    solid_s = _model_objects(at_work_size(blocking), min_area * s * s, RESCUE_MIN_SOLIDITY)
    picked = _clear_of((cp >= threshold) & ~solid_s, solid_s, seed_area)
    if not picked.any():
        return prob, fg
    cp, picked = _refined(gray, cp, picked, threshold, min_area, blocking)
    solid, lab = _model_objects(blocking, min_area, RESCUE_MIN_SOLIDITY, labels=True)
    if blocking is not fg:  # the partly marking objects are labelled too: a rescued body may replace them
        lab = cv2.connectedComponents(fg, connectivity=8)[1]
    small = ((RESCUE_GREY_SMALL_FACTOR * min_area, COMPACT_MIN_SOLIDITY, COMPACT_MIN_CIRCULARITY)
             if RESCUE_GREY_SMALL_FACTOR and not large else None)
    picked = _mostly(_clear_of(picked & ~solid, solid, rescue_area, RESCUE_MIN_SOLIDITY, small, gray=gray,
                               opened_clear_of=lambda: _model_objects(fg, min_area)), cp >= threshold)
    if partly is not None and partly.any() and picked.any():
        picked = _covering(picked, partly, lab)
    if large and picked.any():
        picked = _covering(picked, fg > 0, lab)  # lab: the pieces of fg, labelled above
    if not picked.any():
        return prob, fg
    overlapped = np.zeros(lab.max() + 1, bool)
    overlapped[np.unique(lab[picked])] = True
    overlapped[0] = False
    replaced = overlapped[lab] & ~picked  # ragged model objects under a rescued one: it takes their place
    prob = np.where(picked, np.maximum(cp, prob), np.where(replaced, np.minimum(prob, 0.5 * threshold), prob))
    return prob.astype(np.float32), ((fg & ~replaced) | picked).astype(np.uint8)


def _split_off_grey(gray: np.ndarray, under: list[dict], reported: list[dict], threshold: float,
                    min_area: int, pixel_size_um: float | None) -> list[dict]:
    """The objects under the floor that are grey bodies split off a reported object (step 5):
    the refinement took a grey body the network does not mark into the outline of a dark
    spheroid it touches (so the second rescue saw one solid object there), and the split gave it
    back, with the network's low confidence. Such an object is reported when it is at least
    ``RESCUE_GREY_SMALL_FACTOR`` x the minimum area, compact and round as the compact rule asks
    (``COMPACT_MIN_SOLIDITY``, ``COMPACT_MIN_CIRCULARITY``), off the image border, touches a
    reported object (within 2 px) and is mostly (``RESCUE_MIN_MARKED``) marked on the second
    rescue's map (the baseline's, its threshold taken outside the reported objects); its
    confidence is the mean of that map over it, as a rescued object's is."""
    h, w = gray.shape
    picked = []
    for p in under:
        m = measure(p["exterior"], p["holes"], pixel_size_um=pixel_size_um)
        if ((m.get("area_px") or 0.0) >= RESCUE_GREY_SMALL_FACTOR * min_area
                and (m.get("solidity") or 0.0) >= COMPACT_MIN_SOLIDITY
                and (m.get("circularity") or 0.0) >= COMPACT_MIN_CIRCULARITY
                and not touches_border(m.get("bbox"), w, h) and _touches_any(p, m["bbox"], reported, w, h)):
            picked.append({**p, "metrics": m})
    if not picked:
        return []
    sh, sw = _classical.work_shape(h, w)
    s = sh / h
    found = (rasterize(reported, h, w) > 0).astype(np.uint8)
    if (sh, sw) != (h, w):
        found = cv2.resize(found, (sw, sh), interpolation=cv2.INTER_NEAREST)
    cp = _classical.classical_prob(gray, at_work_size=True, exclude=found > 0, min_threshold=RESCUE_MIN_DARKNESS)
    out = []
    for p in picked:
        inside = rasterize([_transformed(p, scale=s)], sh, sw) > 0
        if not inside.any():
            continue
        values = cp[inside]
        if np.count_nonzero(values >= threshold) >= RESCUE_MIN_MARKED * values.size:
            out.append({**p, "confidence": round(float(values.mean()), 4)})
    return out


def _grown_window(bbox, margin: int, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the pixels a measured ``bbox`` (x, y, w, h) covers, grown by ``margin``
    px on every side and clipped to the image."""
    x, y, bw, bh = bbox
    return (max(0, int(np.floor(x)) - margin), max(0, int(np.floor(y)) - margin),
            min(width, int(np.ceil(x + bw)) + margin + 1), min(height, int(np.ceil(y + bh)) + margin + 1))


def _touches_any(poly: dict, bbox, others: list[dict], width: int, height: int, gap: int = 2) -> bool:
    """Whether the outline ``poly`` (its measured ``bbox``) comes within ``gap`` px of one of ``others``."""
    x0, y0, x1, y1 = _grown_window(bbox, gap + 1, width, height)
    near = [o for o in others if o["metrics"].get("bbox") and _boxes_meet(o["metrics"]["bbox"], (x0, y0, x1, y1))]
    if not near:
        return False
    own = rasterize([_transformed(poly, origin=(x0, y0))], y1 - y0, x1 - x0) > 0
    grown = cv2.dilate(own.astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) > 0
    others = rasterize([_transformed(o, origin=(x0, y0)) for o in near], y1 - y0, x1 - x0)
    return bool((others[grown & ~own] > 0).any())


def _transformed(poly: dict, scale: float = 1.0, origin=(0.0, 0.0)) -> dict:
    """The rings of ``poly`` scaled by ``scale`` and then seen from ``origin`` (x, y)."""
    def ring(r):
        return (np.asarray(r, np.float64) * scale - origin).tolist()

    return {"exterior": ring(poly["exterior"]), "holes": [ring(r) for r in poly["holes"]]}


def _boxes_meet(bbox, window) -> bool:
    x, y, bw, bh = bbox
    x0, y0, x1, y1 = window
    return x <= x1 and x + bw >= x0 and y <= y1 and y + bh >= y0


def _partly_marked(gray: np.ndarray, fg: np.ndarray, marked: np.ndarray, min_area: float) -> np.ndarray:
    """Where the solid model objects are that are only the marked part of a grey body (the
    network marks its darker middle or one side): each lies (90 %) inside one connected piece of
    the second rescue's map ``marked``, is at most ``PARTLY_MARKED_MAX_SHARE`` of that piece
    less the other solid objects, is grey itself (``PARTLY_MARKED_MIN_GREY``) and darker than the
    rest of the piece by at most ``PARTLY_MARKED_MAX_DARKER`` of the normalised grey (a dark
    spheroid in a halo of loose cells is far darker than the halo)."""
    lab, stats, keep = _object_pieces(fg, min_area, RESCUE_MIN_SOLIDITY)
    out = np.zeros(fg.shape, bool)
    if not keep.any():
        return out
    nc, clab, cstats = label_pieces(marked.astype(np.uint8))
    for i in np.flatnonzero(keep):
        x, y, bw, bh, area = stats[i]
        mine = lab[y:y + bh, x:x + bw] == i
        inside = np.bincount(clab[y:y + bh, x:x + bw][mine], minlength=nc)
        inside[0] = 0
        c = int(inside.argmax())
        if inside[c] < 0.9 * area:
            continue
        cx, cy, cw, ch, _ = cstats[c]
        win = (slice(cy, cy + ch), slice(cx, cx + cw))
        rest = (clab[win] == c) & ~keep[lab[win]]  # the piece less every solid object, this one too
        if not rest.any() or area > PARTLY_MARKED_MAX_SHARE * (area + rest.sum()):
            continue
        grey = float(gray[y:y + bh, x:x + bw][mine].mean())
        if grey >= PARTLY_MARKED_MIN_GREY and float(gray[win][rest].mean()) - grey <= PARTLY_MARKED_MAX_DARKER:
            out[y:y + bh, x:x + bw] |= mine
    return out


def _covering(pieces: np.ndarray, parts: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """The connected pieces of ``pieces`` less those that overlap an object of ``parts`` (objects
    labelled in ``lab``) without covering ``PARTLY_MARKED_MIN_COVER`` of it: a rescued body grows
    a partly marked object, it does not cut it down."""
    n, plab = cv2.connectedComponents(pieces.astype(np.uint8), connectivity=8)
    drop = np.zeros(n, bool)
    for j in np.unique(lab[parts]):
        if j == 0:
            continue
        obj = lab == j
        under = plab[obj]
        if np.count_nonzero(under) < PARTLY_MARKED_MIN_COVER * under.size:
            drop[np.unique(under)] = True
    drop[0] = True
    return ~drop[plab] & (plab > 0)


def _refined(gray: np.ndarray, cp: np.ndarray, picked: np.ndarray, threshold: float,
             min_area: int, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rescue candidates ``picked`` on the classical map ``cp`` at its working size -> their
    classical probability at full size and their outlines refined there (``ml.refine``, on a
    window around them: refinement reaches no farther than ``_REFINE_MARGIN``). They never merge
    with the objects ``found`` so far (full size; specks under ``min_area`` are none) but those
    their seeds half cover (parts of a body, which a rescued object may replace)."""
    h, w = gray.shape
    s = cp.shape[0] / h
    cp = np.where(picked, cp, 0.0).astype(np.float32)
    if cp.shape != (h, w):
        cp = cv2.resize(cp, (w, h), interpolation=cv2.INTER_LINEAR)
    seeds = cp >= threshold
    if not REFINE:
        return cp, _body_holes_filled(gray, seeds, islands=found > 0)
    ys, xs = np.nonzero(seeds)
    out = np.zeros((h, w), bool)
    if len(ys):
        win = (slice(max(0, ys.min() - _REFINE_MARGIN), ys.max() + 1 + _REFINE_MARGIN),
               slice(max(0, xs.min() - _REFINE_MARGIN), xs.max() + 1 + _REFINE_MARGIN))
        lab, stats, clear = _object_pieces(found[win], min_area)
        clear &= np.bincount(lab[seeds[win]], minlength=len(stats)) < 0.5 * stats[:, 4]
        out[win] = refine_mask(gray[win], cp[win], threshold, band=band_for_scale(s), min_area_px=min_area,
                               nearest_only=REFINE_NEAREST_ONLY, clear_of=clear[lab]) > 0
    return cp, _body_holes_filled(gray, out, islands=found > 0)


def _mostly(pieces: np.ndarray, marked: np.ndarray, share: float | None = None) -> np.ndarray:
    """The connected pieces of ``pieces`` with at least ``share`` (default ``RESCUE_MIN_MARKED``)
    of their area ``marked``."""
    share = RESCUE_MIN_MARKED if share is None else share
    pieces = pieces.astype(np.uint8)
    x, y, bw, bh = cv2.boundingRect(pieces)  # the work stays inside the pieces' bounding box
    out = np.zeros(pieces.shape, bool)
    if bw == 0:
        return out
    n, lab = cv2.connectedComponents(pieces[y:y + bh, x:x + bw], connectivity=8)
    keep = np.bincount(lab[marked[y:y + bh, x:x + bw]], minlength=n) >= share * np.bincount(lab.ravel(), minlength=n)
    keep[0] = False
    out[y:y + bh, x:x + bw] = keep[lab]
    return out


def _model_objects(fg: np.ndarray, min_area: float, min_solidity: float = 0.0, labels: bool = False):
    """Where the model's objects are (the pieces of ``fg`` of ``min_area`` px or more: specks
    below it are no object; with ``min_solidity``, only the compact ones), grown by 2 px; with
    ``labels``, also the labels of ``fg``'s pieces."""
    lab, stats, keep = _object_pieces(fg, min_area, min_solidity)
    grown = np.zeros(fg.shape, bool)
    if keep.any():  # the work stays inside the objects' bounding box, grown by the 2 px
        h, w = fg.shape
        x0, y0 = max(0, int(stats[keep, 0].min()) - 2), max(0, int(stats[keep, 1].min()) - 2)
        x1 = min(w, int((stats[keep, 0] + stats[keep, 2]).max()) + 2)
        y1 = min(h, int((stats[keep, 1] + stats[keep, 3]).max()) + 2)
        grown[y0:y1, x0:x1] = cv2.dilate(keep[lab[y0:y1, x0:x1]].astype(np.uint8), _K5) > 0
    return (grown, lab) if labels else grown


def _object_pieces(fg: np.ndarray, min_area: float, min_solidity: float = 0.0):
    """The labelled pieces of ``fg`` (labels, stats) and which of them are objects: ``min_area``
    px or more and, with ``min_solidity``, at least that solid."""
    _, lab, stats = label_pieces(fg)
    keep = stats[:, 4] >= min_area
    keep[0] = False
    if min_solidity > 0:
        keep = _solid_enough(lab, stats, keep, min_solidity)
    return lab, stats, keep


def _solid_enough(lab: np.ndarray, stats: np.ndarray, keep: np.ndarray, min_solidity: float) -> np.ndarray:
    """``keep`` less the labelled pieces whose solidity (pixel area over convex hull: holes
    count against it) is below ``min_solidity``."""
    keep = keep.copy()
    for i in np.flatnonzero(keep):
        x, y, bw, bh = stats[i, :4]
        keep[i] = mask_solidity(lab[y:y + bh, x:x + bw] == i) >= min_solidity
    return keep


def _boxes_off_border(x, y, bw, bh, width: int, height: int) -> np.ndarray:
    """Which bounding boxes (arrays of x, y, width, height) touch no edge of a width x height image."""
    return (border_edges(x, y, width, height) | border_edges(x + bw - 1, y + bh - 1, width, height)) == 0


def _clear_of(candidates: np.ndarray, taken: np.ndarray, min_area: float, min_solidity: float = 0.0,
              small: tuple[float, float, float] | None = None, gray: np.ndarray | None = None,
              opened_clear_of: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """The connected pieces of ``candidates`` of at least ``min_area`` px and ``min_solidity``,
    off the image border, with at most ``RESCUE_MAX_OVERLAP`` of their area on ``taken``; with
    ``small`` = (area, solidity, circularity), smaller pieces from that area too when at least
    that solid and their outline that round; with ``gray``, a piece that fails these tests is
    taken opened when ``_opened_body`` finds a body in it (one as large and round as ``small``
    asks, for a piece under ``min_area``; since 2026-12-02: a small spheroid whose refinement
    took in loose cells or a vesicle's rim beside it) (and it has at
    most ``RESCUE_MAX_OVERLAP`` of its area on the mask ``opened_clear_of()`` too, when given,
    computed only when a piece is tried: an opened body replaces no object)."""
    candidates = candidates.astype(np.uint8)
    h, w = candidates.shape
    ox, oy, cw, ch = cv2.boundingRect(candidates)  # the work stays inside the candidates' bounding box
    out = np.zeros((h, w), bool)
    if cw == 0:
        return out
    n, lab, stats, _ = cv2.connectedComponentsWithStats(candidates[oy:oy + ch, ox:ox + cw], connectivity=8)
    x, y, bw, bh, area = stats.T
    overlap = np.bincount(lab[taken[oy:oy + ch, ox:ox + cw]], minlength=n)
    clear = overlap <= RESCUE_MAX_OVERLAP * area
    clear &= _boxes_off_border(x + ox, y + oy, bw, bh, w, h)
    clear[0] = False
    keep = clear & (area >= min_area)
    if min_solidity > 0:
        keep = _solid_enough(lab, stats, keep, min_solidity)
    if small is not None:
        for i in np.flatnonzero(clear & (area >= small[0]) & (area < min_area)):
            keep[i] = _round_enough(lab[y[i]:y[i] + bh[i], x[i]:x[i] + bw[i]] == i, small)
    out[oy:oy + ch, ox:ox + cw] = keep[lab]
    if gray is not None and min_solidity > 0 and OPENED_RADIUS:
        ragged = clear & (area >= (min_area if small is None else small[0])) & ~keep
        others = taken  # the objects kept out of an opened body's ring
        if opened_clear_of is not None and ragged.any():
            others = opened_clear_of()
            ragged &= np.bincount(lab[others[oy:oy + ch, ox:ox + cw]], minlength=n) <= RESCUE_MAX_OVERLAP * area
        for i in np.flatnonzero(ragged):
            pad = int(np.ceil((OPENED_RADIUS + CONTRAST_RING) * np.sqrt(area[i] / np.pi))) + 12
            y0, x0 = max(0, oy + y[i] - pad), max(0, ox + x[i] - pad)
            y1, x1 = min(h, oy + y[i] + bh[i] + pad), min(w, ox + x[i] + bw[i] + pad)
            piece = np.zeros((y1 - y0, x1 - x0), bool)
            piece[oy + y[i] - y0:oy + y[i] + bh[i] - y0, ox + x[i] - x0:ox + x[i] + bw[i] - x0] = \
                lab[y[i]:y[i] + bh[i], x[i]:x[i] + bw[i]] == i
            body = _opened_body(gray[y0:y1, x0:x1], piece, others[y0:y1, x0:x1] > 0, min_solidity)
            if body is not None and area[i] < min_area and not _round_enough(body, small):
                body = None  # a piece of the small path: its body as large and round as that asks
            if body is not None:
                out[y0:y1, x0:x1] |= body
    return out


def _round_enough(body: np.ndarray, small: tuple[float, float, float]) -> bool:
    """Whether the mask ``body`` is as large, solid and round as ``small`` = (area, solidity,
    circularity of its outline) asks."""
    area, solidity, circularity = small
    if body.sum() < area or mask_solidity(body) < solidity:
        return False
    res = outlines(body)
    return res is not None and (measure(*res).get("circularity") or 0.0) >= circularity


def _opened_body(gray: np.ndarray, piece: np.ndarray, taken: np.ndarray, min_solidity: float) -> np.ndarray | None:
    """The body inside a ragged rescue candidate ``piece`` (a window of the image ``gray``, with
    the objects ``taken`` there), or None: the piece opened by a disc of ``OPENED_RADIUS`` x its
    equivalent radius, its largest part, when that keeps ``OPENED_MIN_SHARE`` of the piece, is at
    least ``min_solidity`` and ``COMPACT_MIN_SOLIDITY`` solid and is smoother than the free ring
    around it (its granularity under ``GRANULAR_MIN_RING_SHARE`` x the ring's, ``_look``): loose
    cells stuck to a grey body's rim are cut off, and a clump of loose cells is as granular as
    its ring."""
    area = int(piece.sum())
    opened = _open(piece.astype(np.uint8), OPENED_RADIUS * np.sqrt(area / np.pi))
    n, parts, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n < 2:
        return None
    body = parts == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    kept = int(body.sum())
    if kept < OPENED_MIN_SHARE * area or mask_solidity(body) < max(min_solidity, COMPACT_MIN_SOLIDITY):
        return None
    look = _look(gray, body.astype(np.uint8), ~(taken | body), np.sqrt(kept / np.pi), granular=True)
    if look is None or look.granularity is None or not look.granularity < GRANULAR_MIN_RING_SHARE * look.ring_granularity:
        return None
    return body


def _split_at_border(prob: np.ndarray, contact: np.ndarray | None, dropped: list[dict], threshold: float,
                     min_area: int, min_solidity: float, pixel_size_um: float | None) -> list[dict]:
    """The spheroids inside objects the border floor drops (cut by the border, solidity under
    ``min_solidity``): each object split again (``instances``) with the image border taken as
    no edge of it, so that the part the border cuts makes a peak of its own (counted as
    background, it made none and a spheroid stayed joined to it); the pieces off the border (or
    merely grazing it) at least ``min_solidity`` solid, measured, for the floors to judge as
    any object."""
    h, w = prob.shape
    out = []
    for poly in dropped:
        x0, y0, x1, y1 = _grown_window(poly["metrics"]["bbox"], 2, w, h)
        piece = rasterize([_transformed(poly, origin=(x0, y0))], y1 - y0, x1 - x0)
        found = instances(prob[y0:y1, x0:x1], threshold=threshold, min_area_px=min_area, mask=piece,
                          contact=None if contact is None else contact[y0:y1, x0:x1], border_continues=True)
        if len(found) < 2:
            continue
        for p in found:
            p = {**_transformed(p, origin=(-x0, -y0)), "confidence": p["confidence"]}
            p["metrics"] = m = measure(p["exterior"], p["holes"], pixel_size_um=pixel_size_um)
            if not cut_by_border(p, w, h) and (m.get("solidity") or 0.0) >= min_solidity:
                out.append(p)
    return out


def default_min_area(height: int, width: int) -> int:
    """Default minimum object area: 0.06 % of the image (600 px at 1000 x 1000), at least 32 px."""
    return max(32, int(round(0.0006 * height * width)))


def segment(image: np.ndarray, *, model: str = DEFAULT_MODEL, threshold: float = 0.5,
            min_area_px: int | None = None, pixel_size_um: float | None = None,
            progress: Callable[[str, float], None] | None = None,
            should_cancel: Callable[[], bool] | None = None) -> SegmentationResult:
    """Segment one decoded image (HxW or HxWxC, any dtype) into measured spheroid outlines."""
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def report(stage, frac):
        if progress is not None:
            progress(stage, float(frac))

    def check():
        if should_cancel is not None and should_cancel():
            raise Cancelled("segmentation cancelled")

    img = np.asarray(image)
    if img.ndim not in (2, 3):
        raise ValueError(f"Expected an HxW or HxWxC image, got shape {img.shape}")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"The image is {img.shape[1]} x {img.shape[0]} px: too thin to segment "
                         f"(both sides must be at least 2 px).")
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    h, w = img.shape[:2]
    min_area = default_min_area(h, w) if min_area_px is None else max(1, int(min_area_px))

    report("loading", 0.0)
    check()
    card = get_model_card(model)
    t = time.perf_counter()
    if card.kind == "unet":
        _load_unet(card)
    timings["loading"] = time.perf_counter() - t
    report("loading", 1.0)
    check()

    report("inference", 0.0)
    t = time.perf_counter()
    gray, overlays, outside = normalize_with_masks(img)
    if PAINT_OVERLAYS:
        gray = _overlays_painted_over(gray, overlays)
    del overlays
    timings["normalize"] = time.perf_counter() - t
    if card.kind == "unet":
        prob, contact = _unet_prob(card, gray, threshold, min_area, timings)
        scale = timings["inference_scale"]
    else:
        t = time.perf_counter()
        prob, contact = _classical.classical_prob(gray), None
        timings["inference"] = time.perf_counter() - t
        scale = min(1.0, _classical.WORK_SIZE / max(h, w))
    mask = None
    if REFINE:
        t = time.perf_counter()
        mask = refine_mask(gray, prob, threshold, band=band_for_scale(scale), min_area_px=min_area,
                           nearest_only=REFINE_NEAREST_ONLY and card.kind == "unet",
                           stop_at_border=REFINE_STOP_AT_BORDER and card.kind == "unet",
                           max_solidity_drop=REFINE_MAX_SOLIDITY_DROP if card.kind == "unet" else None)
        timings["refine"] = time.perf_counter() - t
    if card.kind == "unet" and (RESCUE_MIN_AREA_FACTOR or CLOSER_FACTOR):
        t = time.perf_counter()
        cp = _classical.classical_prob(gray, at_work_size=True)  # the first rescue's and the closer look's
        if RESCUE_MIN_AREA_FACTOR:
            prob, mask = _rescue_missed(gray, prob, mask, threshold, min_area, RESCUE_MIN_AREA_FACTOR * min_area, cp)
            if RESCUE_GREY_AREA_FACTOR:
                prob, mask = _rescue_grey(gray, prob, mask, threshold, min_area, RESCUE_GREY_AREA_FACTOR * min_area)
            if RESCUE_LARGE_MIN_DIAMETER:
                d = RESCUE_LARGE_MIN_DIAMETER * min(h, w)
                prob, mask = _rescue_grey(gray, prob, mask, threshold, min_area, np.pi / 4 * d * d, large=True)
        timings["rescue"] = time.perf_counter() - t
        if CLOSER_FACTOR:
            t = time.perf_counter()
            prob, mask = _closer_look(_load_unet(card), gray, prob, mask, cp, scale, threshold, min_area)
            timings["closer"] = time.perf_counter() - t
    report("inference", 1.0)
    check()

    report("post-processing", 0.0)
    t = time.perf_counter()
    mask = _body_holes_filled(gray, (prob >= threshold) if mask is None else mask).astype(np.uint8)
    polys = instances(prob, threshold=threshold, min_area_px=min_area, contact=contact, mask=mask)
    del mask
    floor, under = None, []
    if card.min_confidence is not None:  # the floors move with the threshold
        floor = card.min_confidence + (threshold - 0.5)
        lowest = floor if COMPACT_MIN_CONFIDENCE is None else min(floor, COMPACT_MIN_CONFIDENCE + (threshold - 0.5))
        under = [p for p in polys if p["confidence"] < lowest]
        polys = [p for p in polys if p["confidence"] >= lowest]
    timings["instances"] = time.perf_counter() - t
    t = time.perf_counter()
    for p in polys:
        p["metrics"] = measure(p["exterior"], p["holes"], pixel_size_um=pixel_size_um)
    if BORDER_SPLIT and card.kind == "unet" and card.border_min_solidity is not None:
        polys += _split_at_border(prob, contact, [p for p in polys if _irregular_at_border(
            p, card.border_min_solidity, w, h)], threshold, min_area, card.border_min_solidity, pixel_size_um)
    keep = [not (card.border_min_solidity is not None and _irregular_at_border(p, card.border_min_solidity, w, h))
            and not outside_a_round_edge(p["exterior"], w, h) and not _an_overlay(gray, p)
            and (floor is None or p["confidence"] >= floor or kept_under_floor(p, w, h, threshold)) for p in polys]
    if SPLIT_OFF_GREY and card.kind == "unet" and floor is not None and under and any(keep):
        t_split = time.perf_counter()
        found = _split_off_grey(gray, under, [p for p, kept in zip(polys, keep, strict=True) if kept],
                                threshold, min_area, pixel_size_um)
        polys += found
        keep += [True] * len(found)
        timings["split_off"] = time.perf_counter() - t_split
    timings["metrics"] = time.perf_counter() - t
    # ml.complete tests the pixel solidity, never below the outline's own (measured 0.002-0.07
    # above it): objects this solid are no candidates, and without candidates nothing is rasterised
    candidates = [kept and (p["metrics"].get("solidity") or 0.0) < _complete.MAX_SOLIDITY + 0.02
                  for p, kept in zip(polys, keep, strict=True)]
    if COMPLETE and card.kind == "unet" and any(candidates):
        t = time.perf_counter()
        for k, (ext, holes) in _completed(gray, polys, candidates).items():
            polys[k] = {**polys[k], "exterior": ext, "holes": holes,
                        "metrics": measure(ext, holes, pixel_size_um=pixel_size_um)}
        timings["complete"] = time.perf_counter() - t
    if (MIN_CONTRAST is not None or MAX_GRANULARITY is not None) and card.kind == "unet" and any(keep):
        t = time.perf_counter()
        granular = [MAX_GRANULARITY is not None and (p["metrics"].get("solidity") or 0.0) < GRANULAR_MAX_SOLIDITY
                    for p in polys]
        for k, look in _object_looks(gray, polys, keep, granular).items():
            keep[k] = (MIN_CONTRAST is None or look.contrast >= MIN_CONTRAST) and not _a_clump_of_cells(look)
        timings["contrast"] = time.perf_counter() - t
    del gray
    polys = [p for p, kept in zip(polys, keep, strict=True) if kept and not _outside_the_field(p, outside)]
    report("post-processing", 1.0)
    timings["total"] = time.perf_counter() - t_all
    return SegmentationResult(width=w, height=h, model_name=card.name, model_version=card.version,
                              polygons=polys, timings={k: round(v, 5) for k, v in timings.items()})


class ObjectLook(NamedTuple):
    """How an object stands out: ``contrast`` (background around it minus its mean, normalised
    grey), ``granularity`` (its fine texture over that contrast), ``ring_granularity`` (the
    same of the free ring around it) and ``edge_sharpness`` (the mean grey-level gradient on its
    outline over that contrast, per px: about 1 / the width of its edge); the three are None
    when not measured."""

    contrast: float
    granularity: float | None = None
    ring_granularity: float | None = None
    edge_sharpness: float | None = None


def _fine_texture(g: np.ndarray, g1: np.ndarray, region: np.ndarray) -> float:
    """Mean |grey smoothed 1 px - grey smoothed 4 px| over ``region``, the 4 px smoothing taken
    within the region only (normalised convolution), so that an edge beside it does not count."""
    m = region.astype(np.float32)
    local = cv2.GaussianBlur(g * m, (0, 0), 4.0) / np.maximum(cv2.GaussianBlur(m, (0, 0), 4.0), 1e-6)
    return float(np.abs(g1 - local)[region].mean())


def _a_small_spheroid(body: np.ndarray, look: ObjectLook | None) -> bool:
    """Whether ``body`` (a mask), an object only the closer look marks (``_closer_look``), refined,
    is a small spheroid: compact and round as ``COMPACT_MIN_SOLIDITY`` and
    ``COMPACT_MIN_CIRCULARITY`` ask, at least ``MIN_CONTRAST``, smoother than the free ring around
    it (its ``look``'s granularity under ``GRANULAR_MIN_RING_SHARE`` x the ring's: not a clump of
    loose cells) and with a soft edge (``edge_sharpness`` under ``CLOSER_MAX_EDGE_SHARPNESS``: a
    flat shard of debris has a sharp one, a body of cells a rim seen through its depth)."""
    return (look is not None and _round_enough(body, (0, COMPACT_MIN_SOLIDITY, COMPACT_MIN_CIRCULARITY))
            and (MIN_CONTRAST is None or look.contrast >= MIN_CONTRAST) and look.granularity is not None
            and look.granularity < GRANULAR_MIN_RING_SHARE * look.ring_granularity
            and look.edge_sharpness is not None and look.edge_sharpness < CLOSER_MAX_EDGE_SHARPNESS)


def _a_clump_of_cells(look: ObjectLook) -> bool:
    """Granular (``MAX_GRANULARITY``) and nearly as granular as its ring or more
    (``GRANULAR_MIN_RING_SHARE``): a clump of loose cells (measured for ragged objects only)."""
    return (MAX_GRANULARITY is not None and look.granularity is not None
            and look.granularity > MAX_GRANULARITY and look.granularity >= GRANULAR_MIN_RING_SHARE * look.ring_granularity)


def _object_looks(gray: np.ndarray, polys: list[dict], which: list[bool],
                  granular: list[bool] | None = None) -> dict[int, ObjectLook]:
    """``{index: ObjectLook}`` of the objects ``which`` marks (those whose free ring is too small
    to tell a background are left out). The contrast is the background level of the free ring
    around the object (out to ``CONTRAST_RING`` x its equivalent radius, at least 4 px; other
    objects left out; its ``CONTRAST_BACKGROUND`` percentile of the smoothed grey, since loose
    cells in it are darker) minus the object's own mean. For the objects ``granular`` marks,
    the granularity too: ``_fine_texture`` over the object's inside (farther than 0.1 x its
    equivalent radius, at least 3 px, from its outline) divided by a positive contrast, and the
    same over the free ring."""
    h, w = gray.shape
    labels = rasterize(polys, h, w)
    out = {}
    for k, p in enumerate(polys):
        if not which[k]:
            continue
        ext = np.asarray(p["exterior"], np.float64)
        area = float(p["metrics"].get("area_px") or 0.0)
        radius = np.sqrt(max(area, 1.0) / np.pi)
        d = max(4, int(np.ceil(CONTRAST_RING * radius)))
        pad = d + 8
        x0, y0 = max(0, int(ext[:, 0].min()) - pad), max(0, int(ext[:, 1].min()) - pad)
        x1, y1 = min(w, int(np.ceil(ext[:, 0].max())) + pad + 1), min(h, int(np.ceil(ext[:, 1].max())) + pad + 1)
        lab = labels[y0:y1, x0:x1]
        obj = (lab == k + 1).astype(np.uint8)
        if not obj.any():
            continue
        look = _look(gray[y0:y1, x0:x1], obj, lab == 0, radius, granular is not None and granular[k])
        if look is not None:
            out[k] = look
    return out


def _look(g: np.ndarray, obj: np.ndarray, free: np.ndarray, radius: float, granular: bool) -> ObjectLook | None:
    """The ``ObjectLook`` of the object ``obj`` (uint8 mask of a window ``g`` of the normalised
    grey) whose ring may take the pixels ``free`` (not the object's, nor another object's);
    None when that ring is too small to tell a background (under 20 px)."""
    d = max(4, int(np.ceil(CONTRAST_RING * radius)))
    gs = cv2.GaussianBlur(g, (0, 0), 2.0)
    ring = _free_ring(obj > 0, free, d)
    if ring.sum() < 20:
        return None
    contrast = float(np.percentile(gs[ring], CONTRAST_BACKGROUND) - gs[obj > 0].mean())
    if not granular or contrast <= 0:
        return ObjectLook(contrast)
    inside = cv2.distanceTransform(obj, cv2.DIST_L2, 5) > max(3.0, 0.1 * radius)
    if inside.sum() < 20:
        inside = obj > 0
    g1 = cv2.GaussianBlur(g, (0, 0), 1.0)
    edge = (obj > 0) & (cv2.erode(obj, _K3) == 0)
    gradient = np.hypot(cv2.Sobel(g1, cv2.CV_32F, 1, 0), cv2.Sobel(g1, cv2.CV_32F, 0, 1))[edge] / 8
    return ObjectLook(contrast, _fine_texture(g, g1, inside) / contrast, _fine_texture(g, g1, ring) / contrast,
                      float(gradient.mean()) / contrast)


def _free_ring(body: np.ndarray, free: np.ndarray, d: int) -> np.ndarray:
    """The pixels of ``free`` within ``d`` px of the mask ``body``: where its background is taken."""
    return (cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 5) <= d) & free


def _body_holes_filled(gray: np.ndarray, mask: np.ndarray, islands: np.ndarray | None = None) -> np.ndarray:
    """``mask`` (bool) with the holes that are part of their object's body filled: a hole whose
    mean grey lies at least ``HOLE_MIN_SHARE`` of its object's contrast (the background of the
    free ring around the object, as ``_look`` takes it, minus the object's mean) away from that
    background, toward the object. A spheroid with a pale middle (out of focus or hollow, which
    the network and the baseline mark as a ring) is taken whole; the background seen through a
    ring, or a vesicle paler than the field, stays a hole, as does a hole holding another object
    (of ``mask``, or of ``islands``: a halo of loose cells round a spheroid found before)."""
    fg = mask > 0
    if HOLE_MIN_SHARE is None:
        return fg
    out = fg.copy()
    # the work stays in the mask's bounding box, grown for the widest ring an object there can have
    bx, by, bw, bh = cv2.boundingRect(fg.astype(np.uint8))
    pad = 9 + int(np.ceil(CONTRAST_RING * np.sqrt(bw * bh / np.pi)))
    x0, y0 = max(0, bx - pad), max(0, by - pad)
    fg, gray = fg[y0:by + bh + pad, x0:bx + bw + pad], gray[y0:by + bh + pad, x0:bx + bw + pad]
    if islands is not None:
        islands = islands[y0:by + bh + pad, x0:bx + bw + pad]
    h, w = fg.shape
    n, holes, hstats, _ = cv2.connectedComponentsWithStats((~fg).astype(np.uint8), connectivity=4)
    inner = _boxes_off_border(*hstats[:, :4].T, w, h) & (hstats[:, 4] >= 4)
    inner[0] = False  # label 0: the mask's own pixels
    if not inner.any():
        return out
    _, objects, ostats = label_pieces(fg.astype(np.uint8))
    window = out[y0:by + bh + pad, x0:bx + bw + pad]  # a view: filling it fills out
    levels: dict[int, tuple[float, float] | None] = {}
    for i in np.flatnonzero(inner):
        x, y, hw, hh = hstats[i, :4]
        box = slice(max(0, y - 1), min(h, y + hh + 1)), slice(max(0, x - 1), min(w, x + hw + 1))
        hole = holes[box] == i
        around = objects[box][cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0]
        around = around[around > 0]
        if not len(around):
            continue
        j = int(np.bincount(around).argmax())
        inside = ndi.binary_fill_holes(hole)
        if (inside & ~hole).any() or (islands is not None and (islands[box] & inside).any()):
            continue  # an island in the hole: it stays a hole
        if j not in levels:
            levels[j] = _object_levels(gray, objects, ostats, j)
        if levels[j] is None:
            continue
        background, contrast = levels[j]
        if (background - float(gray[box][hole].mean())) / contrast >= HOLE_MIN_SHARE:
            window[box] |= hole
    return out


def _object_levels(gray: np.ndarray, objects: np.ndarray, stats: np.ndarray, j: int) -> tuple[float, float] | None:
    """``(background, contrast)`` of the labelled object ``j``, as ``_look`` takes them (the ring
    around its body with its holes filled, other objects left out), or None when that ring is
    too small or the object has no contrast."""
    h, w = gray.shape
    x, y, bw, bh, area = stats[j]
    d = max(4, int(np.ceil(CONTRAST_RING * np.sqrt(area / np.pi))))
    x0, y0, x1, y1 = max(0, x - d - 8), max(0, y - d - 8), min(w, x + bw + d + 8), min(h, y + bh + d + 8)
    lab = objects[y0:y1, x0:x1]
    body = ndi.binary_fill_holes(lab == j)
    ring = _free_ring(body, ~body & (lab == 0), d)
    if ring.sum() < 20:
        return None
    gs = cv2.GaussianBlur(gray[y0:y1, x0:x1], (0, 0), 2.0)
    background = float(np.percentile(gs[ring], CONTRAST_BACKGROUND))
    contrast = background - float(gs[lab == j].mean())
    return (background, contrast) if abs(contrast) >= 1e-3 else None


def _completed(gray: np.ndarray, polys: list[dict], candidates: list[bool]) -> dict[int, tuple]:
    """``{index: (exterior, holes)}`` of the candidate objects that ``ml.complete`` completes;
    every object, reported or not, takes part as a marker."""
    h, w = gray.shape
    labels = rasterize(polys, h, w).astype(np.int32)
    only = {k + 1 for k, c in enumerate(candidates) if c}
    out = {}
    for k, (y0, x0, m) in _complete.complete_bodies(gray, labels, only=only).items():
        res = outlines(m, (x0, y0))
        if res is not None:
            out[k - 1] = res
    return out


def _outside_the_field(poly: dict, outside: np.ndarray | None) -> bool:
    """Whether ``OUTSIDE_FIELD_MAX_SHARE`` or more of an object lies in the dark outside of the
    image's field (``ml.io.outside_field``: beyond a field stop's or a well's round edge)."""
    if outside is None:
        return False
    pts = np.asarray(poly["exterior"], np.float64).reshape(-1, 2)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 1, outside.shape[::-1])
    body = rasterize([_transformed(poly, origin=(x0, y0))], y1 - y0, x1 - x0) > 0
    return bool(body.any() and outside[y0:y1, x0:x1][body].mean() >= OUTSIDE_FIELD_MAX_SHARE)


def _overlays_painted_over(gray: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``gray`` with its burned-in text, scale bars and label boxes (``mask``, from
    ``ml.io.normalize_with_masks``) painted over from their surroundings (OpenCV's Telea
    inpainting), so that no outline takes them in; unchanged without a mask."""
    if mask is None:
        return gray
    ys, xs = np.nonzero(mask)
    pad = 8
    y0, y1 = max(0, ys.min() - pad), min(gray.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(gray.shape[1], xs.max() + pad + 1)
    out = gray.copy()
    out[y0:y1, x0:x1] = cv2.inpaint(gray[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return out


def _an_overlay(gray: np.ndarray, poly: dict) -> bool:
    """Whether a measured object is a burned-in overlay (``OVERLAY_MIN_EXTENT``,
    ``OVERLAY_MIN_FLAT_SHARE``): a filled rectangle mostly of one grey, as a scale bar is."""
    x, y, bw, bh = poly["metrics"]["bbox"]
    # the outline's own extent: letters punched out of a label box are holes in it
    if OVERLAY_MIN_EXTENT is None or not bw or not bh or polygon_area(poly["exterior"]) < OVERLAY_MIN_EXTENT * bw * bh:
        return False
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    window = gray[y0:int(np.ceil(y + bh)) + 1, x0:int(np.ceil(x + bw)) + 1]
    inside = rasterize([_transformed(poly, origin=(x0, y0))], *window.shape).astype(np.uint8)
    core = cv2.erode(inside, _K5) > 0  # its edge pixels blend with the background
    if not core.any():
        return False
    grey = window[core]
    return float(np.mean(np.abs(grey - np.median(grey)) <= OVERLAY_FLAT_TOLERANCE)) >= OVERLAY_MIN_FLAT_SHARE


def outside_a_round_edge(exterior, width: int, height: int) -> bool:
    """An object cut off by two different image edges that lies (90 % or more) on the border's side
    of the chord between the two ends of its outline off the border, i.e. whose free outline is
    straight or curves into it: the dark outside of a round well or dish across a corner (its
    traced rim may wobble by a few per cent). A spheroid cut by the border bulges out over that
    chord: a quarter disc by 36 % of its area, a cap of one centred outside the corner by 20 %."""
    pts = np.asarray(exterior, np.float32).reshape(-1, 2)
    n = len(pts)
    edges, along = _along_border(pts, width, height)
    if n < 3 or along.all() or not along.any():
        return False
    # the longest run of segments off the border, walking the ring from a segment along it
    first = int(np.argmax(along))
    best, run_start = (0, 0, 0), None
    for step in range(1, n + 1):
        i = (first + step) % n
        off = step < n and not along[i]
        if off and run_start is None:
            run_start = i
        elif not off and run_start is not None:
            best = max(best, ((i - run_start) % n, run_start, i))
            run_start = None
    _, ia, ib = best  # the free outline runs from vertex ia to vertex ib
    a, b = pts[ia], pts[ib]
    chord = float(np.hypot(*(a - b)))
    if edges[ia] & edges[ib] or chord < 8:  # a chord along one edge: a spheroid cut by that edge
        return False
    # which side of the chord the outline along the border lies on; the share of the object
    # beyond the chord on the other side: about 0 for the outside of a well, 0.36 for a quarter disc
    normal = np.array([a[1] - b[1], b[0] - a[0]], np.float32) / chord
    side = float(np.sign(np.mean((pts[edges > 0] - a) @ normal)))
    if side == 0:
        return False
    x0, y0 = pts.min(0).astype(np.int32)
    x1, y1 = pts.max(0).astype(np.int32)
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(pts - (x0, y0)).astype(np.int32)], 1)
    ys, xs = np.nonzero(mask)
    beyond = ((np.stack([xs + x0, ys + y0], 1) - a) @ normal) * side < -1
    return float(beyond.mean()) < OUTSIDE_EDGE_MAX_BEYOND


def _along_border(pts: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """For a closed outline (N x 2): the image edges each vertex lies on (``border_edges``) and
    whether segment i -> i + 1 runs along an image edge."""
    edges = border_edges(pts[:, 0], pts[:, 1], width, height)
    return edges, (edges & np.roll(edges, -1)) != 0


def cut_by_border(poly: dict, width: int, height: int) -> bool:
    """Whether a measured object is cut by the image border: it reaches the border and does not
    merely graze it (its outline along the border at least ``BORDER_GRAZE`` x its equivalent
    diameter, or an outline less round than ``BORDER_GRAZE_MIN_CIRCULARITY``)."""
    m = poly["metrics"]
    if not touches_border(m.get("bbox"), width, height):
        return False
    if (m.get("circularity") or 0.0) < BORDER_GRAZE_MIN_CIRCULARITY:
        return True
    pts = np.asarray(poly["exterior"], np.float64).reshape(-1, 2)
    _, along = _along_border(pts, width, height)
    run = float(np.hypot(*(np.roll(pts, -1, 0) - pts)[along].T).sum())
    return run >= BORDER_GRAZE * (m.get("equivalent_diameter_px") or 0.0)


def _irregular_at_border(poly: dict, min_solidity: float, width: int, height: int) -> bool:
    """An object cut by the image border whose outline is irregular (solidity below the card's
    floor): on the synthetic validation images mostly dark vignetted corners and cell clumps;
    a spheroid cut by the border keeps a convex outline (and its size is not measurable anyway)."""
    solidity = poly["metrics"].get("solidity")
    return solidity is not None and solidity < min_solidity and cut_by_border(poly, width, height)


def kept_under_floor(poly: dict, width: int, height: int, threshold: float = 0.5) -> bool:
    """Whether a measured object under the card's confidence floor is reported all the same: its
    confidence at least ``COMPACT_MIN_CONFIDENCE`` (shifted by ``threshold - 0.5``, as the floor
    is), off the image border, its outline compact and round (``COMPACT_MIN_SOLIDITY``,
    ``COMPACT_MIN_CIRCULARITY``): the shape of a spheroid, not of a clump of loose cells or a
    vignetted corner."""
    m = poly["metrics"]
    return (COMPACT_MIN_CONFIDENCE is not None
            and poly["confidence"] >= COMPACT_MIN_CONFIDENCE + (threshold - 0.5)
            and (m.get("solidity") or 0.0) >= COMPACT_MIN_SOLIDITY
            and (m.get("circularity") or 0.0) >= COMPACT_MIN_CIRCULARITY
            and not touches_border(m.get("bbox"), width, height))


# --------------------------------------------------------------------------- fine-tuning


def fine_tune(pairs: Iterable, *, base_model: str = DEFAULT_MODEL, out_dir: str | os.PathLike,
              epochs: int = 20, seed: int = 0, lr: float = 5e-4, batch: int = 4,
              version: str | None = None, log: Callable[[str], None] = print) -> ModelCard:
    """Fine-tune a U-Net on (image array, label mask) pairs; writes weights + card into ``out_dir``.

    ``label mask``: HxW integers, 0 = background, 1..N = objects (e.g. ``rasterize`` of corrected
    outlines). One epoch = as many augmented crops as there are pairs (at least 8 steps).
    Returns the new card (name ``<base>-ft``); copy the two files into ``ml/weights`` to serve it.
    """

    import torch

    from ml import train as _train

    card = get_model_card(base_model)
    if card.kind != "unet":
        raise ModelLoadError("Only U-Net models can be fine-tuned.")
    pairs = list(pairs)
    if not pairs:
        raise ValueError("fine_tune needs at least one (image, label mask) pair")
    torch.manual_seed(seed)
    X, Y = _train.pairs_to_pool(pairs, card.working_size or 320)
    model = _unet_from_card(card)  # trainable: not the fused inference copy _load_unet keeps
    steps = max(8, epochs * max(1, len(pairs) // batch))
    t, _ = _train.train_loop(model, X, Y, steps=steps, lr=lr, batch=batch, seed=seed, log=log)
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{card.name}-ft"
    ver = version or f"{card.version}+ft{len(pairs)}"
    wfile = f"{name}-v{ver}.pt"
    sha = _train.save_weights(model, out / wfile)
    iou = _train.val_iou(model, X, Y)
    d = json.loads((WEIGHTS_DIR / f"{card.name}.json").read_text()) if (WEIGHTS_DIR / f"{card.name}.json").is_file() else {}
    d.update({"name": name, "version": ver, "weights": wfile, "sha256": sha, "default": False,
              "description": f"{card.name} {card.version} fine-tuned on {len(pairs)} image/mask pairs.",
              "training": {"base_model": f"{card.name} {card.version}", "pairs": len(pairs), "steps": steps,
                           "epochs": epochs, "lr": lr, "batch": batch, "seed": seed, "run_time_s": round(t, 1)},
              "metrics": {"train_pixel_iou": round(iou, 4)}})
    (out / f"{name}.json").write_text(json.dumps(d, indent=2) + "\n")
    return ModelCard(name=name, version=ver, kind="unet", sha256=sha, parameters=card.parameters,
                     description=d["description"], metrics=d["metrics"], default=False, weights=wfile,
                     working_size=card.working_size, channels=card.channels, training=d["training"])
