"""Classical OpenCV baseline: flat-field, smoothing, automatic (Otsu) threshold, morphology.

Produces a pseudo-probability map at full resolution; the engine then runs the same
post-processing (fill, minimum area, splitting, outlines, measurements) as for the U-Net.
"""

from __future__ import annotations

import cv2
import numpy as np

NAME = "classical"
VERSION = "1.0.0"
WORK_SIZE = 640
MIN_THRESHOLD = 0.15  # darkness below this is background, whatever Otsu finds
# the background (illumination) is the image closed by a disc of this diameter at 64 px: dark
# objects up to about that / 64 of the field are taken out of it
BACKGROUND_SIZE = 23


def work_shape(h: int, w: int) -> tuple[int, int]:
    """(height, width) of an h x w image at the working size (never enlarged)."""
    s = min(1.0, WORK_SIZE / max(h, w))
    return (max(min(8, h), round(h * s)), max(min(8, w), round(w * s))) if s < 1 else (h, w)


def classical_prob(gray: np.ndarray, *, at_work_size: bool = False, exclude: np.ndarray | None = None,
                   min_threshold: float = MIN_THRESHOLD, background_size: int = BACKGROUND_SIZE) -> np.ndarray:
    """Normalised grey image (float32 HxW, [0,1]) -> float32 HxW 'probability' of spheroid
    (with ``at_work_size``, at the working size: a long side of ``WORK_SIZE`` px at most).
    ``exclude`` (bool, HxW or at the working size) leaves pixels out of the automatic
    threshold: objects found already, so that a dark one does not set the threshold for a grey
    one beside it. The threshold on darkness (1 - grey / background) is ``min_threshold`` at
    least; ``background_size`` sets the largest dark object the background estimate takes out
    (``BACKGROUND_SIZE``)."""
    h, w = gray.shape
    sh, sw = work_shape(h, w)
    shrink = (sh, sw) != (h, w)
    g = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA) if shrink else gray.copy()
    g = cv2.GaussianBlur(g, (0, 0), 2.0)
    # background (illumination, vignetting): closing removes dark objects up to ~1/3 of the field
    bs = 64.0 / max(sw, sh)
    small = cv2.resize(g, (max(4, round(sw * bs)), max(4, round(sh * bs))), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (background_size, background_size))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, k, borderType=cv2.BORDER_REFLECT)
    bg = cv2.GaussianBlur(bg, (0, 0), 3.0)
    bg = cv2.resize(bg, (sw, sh), interpolation=cv2.INTER_LINEAR)
    dark = np.clip((bg - g) / np.maximum(bg, 0.05), 0, 1)
    u8 = (dark * 255).astype(np.uint8)
    sample = u8
    if exclude is not None:
        ex = exclude if exclude.shape == (sh, sw) else \
            cv2.resize(exclude.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
        if (~ex).sum() >= 0.1 * ex.size:
            sample = u8[~ex].reshape(1, -1)
    t, _ = cv2.threshold(sample, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = max(float(t) / 255.0, min_threshold)
    prob = 1.0 / (1.0 + np.exp(-(dark - t) / (0.05 * t + 1e-3)))
    prob = prob.astype(np.float32)
    r = max(2, round(0.006 * max(sw, sh)))
    ke = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    prob = cv2.morphologyEx(prob, cv2.MORPH_OPEN, ke)  # drop loose cells / thin fibres
    prob = cv2.morphologyEx(prob, cv2.MORPH_CLOSE, ke)  # close gaps inside bodies
    if shrink and not at_work_size:
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    return prob
