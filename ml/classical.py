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


def classical_prob(gray: np.ndarray, *, at_work_size: bool = False) -> np.ndarray:
    """Normalised grey image (float32 HxW, [0,1]) -> float32 HxW 'probability' of spheroid
    (with ``at_work_size``, at the working size: a long side of ``WORK_SIZE`` px at most)."""
    h, w = gray.shape
    s = min(1.0, WORK_SIZE / max(h, w))
    sw, sh = max(8, round(w * s)), max(8, round(h * s))
    g = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else gray.copy()
    g = cv2.GaussianBlur(g, (0, 0), 2.0)
    # background (illumination, vignetting): closing removes dark objects up to ~1/3 of the field
    bs = 64.0 / max(sw, sh)
    small = cv2.resize(g, (max(4, round(sw * bs)), max(4, round(sh * bs))), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (23, 23))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, k, borderType=cv2.BORDER_REFLECT)
    bg = cv2.GaussianBlur(bg, (0, 0), 3.0)
    bg = cv2.resize(bg, (sw, sh), interpolation=cv2.INTER_LINEAR)
    dark = np.clip((bg - g) / np.maximum(bg, 0.05), 0, 1)
    u8 = (dark * 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = max(float(t) / 255.0, 0.15)
    prob = 1.0 / (1.0 + np.exp(-(dark - t) / (0.05 * t + 1e-3)))
    prob = prob.astype(np.float32)
    r = max(2, round(0.006 * max(sw, sh)))
    ke = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    prob = cv2.morphologyEx(prob, cv2.MORPH_OPEN, ke)  # drop loose cells / thin fibres
    prob = cv2.morphologyEx(prob, cv2.MORPH_CLOSE, ke)  # close gaps inside bodies
    if s < 1 and not at_work_size:
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    return prob
