import cv2
import numpy as np

from ml import refine
from ml.refine import REACH_PER_RADIUS, band_for_scale, refine_mask


def _disc(shape, cx, cy, r):
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m


def _iou(a, b):
    a, b = a > 0, b > 0
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def _brightfield(shape, discs, blur=4.0, bg=0.85, dark=0.15, noise=0.02, seed=0):
    """Dark discs with a fuzzy (blurred) rim on a light background, plus noise."""
    img = np.full(shape, bg, np.float32)
    for cx, cy, r in discs:
        img[_disc(shape, cx, cy, r) > 0] = dark
    img = cv2.GaussianBlur(img, (0, 0), blur)
    img += np.random.default_rng(seed).normal(0, noise, shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _coarse(shape, cx, cy, r, scale=0.32):
    """A low-resolution probability map (outline inside the rim), upsampled as the engine does."""
    h, w = shape
    small = np.zeros((round(h * scale), round(w * scale)), np.float32)
    cv2.circle(small, (round(cx * scale), round(cy * scale)), round(r * scale), 1.0, -1)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def test_fuzzy_rim_disc_refined_outline_beats_coarse():
    shape, truth = (300, 300), (150, 150, 80)
    gray = _brightfield(shape, [truth])
    prob = _coarse(shape, 150, 150, 72)  # the model's outline sits 8 px inside the rim
    coarse = prob >= 0.5
    true = _disc(shape, *truth)
    refined = refine_mask(gray, prob, 0.5, band=band_for_scale(0.32), min_area_px=100)
    assert _iou(coarse, true) < 0.85
    assert _iou(refined, true) > 0.97
    assert _iou(refined, true) > _iou(coarse, true) + 0.1


def test_outline_outside_the_rim_is_pulled_in():
    shape = (300, 300)
    gray = _brightfield(shape, [(150, 150, 70)])
    prob = _coarse(shape, 150, 150, 78)
    refined = refine_mask(gray, prob, 0.5, band=9)
    assert _iou(refined, _disc(shape, 150, 150, 70)) > 0.97


def test_moves_at_most_its_reach_and_keeps_low_contrast_objects():
    shape = (300, 300)
    faint = _brightfield(shape, [(150, 150, 80)], dark=0.80)  # contrast 0.05: below min_contrast
    prob = _coarse(shape, 150, 150, 40)
    assert np.array_equal(refine_mask(faint, prob, 0.5, band=9), (prob >= 0.5).astype(np.uint8))
    # a rim 60 px outside a 40 px coarse outline, beyond its reach (0.6 x 40 = 24 px): the ring
    # that would give the background level lies inside the body, so the outline stays
    gray = _brightfield(shape, [(150, 150, 100)])
    refined = refine_mask(gray, prob, 0.5, band=9)
    assert refined.sum() <= np.pi * (40 + REACH_PER_RADIUS * 40 + 1.5) ** 2


def test_a_grey_body_outlined_at_its_core_reaches_its_rim():
    shape = (300, 300)
    gray = _brightfield(shape, [(150, 150, 80)], blur=1.5, dark=0.5)  # a flat grey body, sharp rim
    prob = _coarse(shape, 150, 150, 55)  # the model marks its middle only
    true = _disc(shape, 150, 150, 80)
    assert _iou(prob >= 0.5, true) < 0.5
    assert _iou(refine_mask(gray, prob, 0.5, band=9), true) > 0.95


def test_pale_periphery_is_cut_at_its_sharp_outer_edge(monkeypatch):
    """A dark core fading into a pale periphery that ends in a sharp edge: the half-way level
    between core and background cuts through the periphery; the level along the strongest edge
    is the outer rim."""
    shape = (300, 300)
    yy, xx = np.mgrid[:300, :300]
    r = np.hypot(xx - 150.0, yy - 150.0)
    gray = np.where(r <= 80, 0.15 + 0.5 * np.clip(r / 80, 0, 1) ** 1.5, 0.85).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
    gray += np.random.default_rng(1).normal(0, 0.01, shape).astype(np.float32)
    prob = _coarse(shape, 150, 150, 50)
    true = _disc(shape, 150, 150, 80)
    refined = refine_mask(gray, prob, 0.5, band=9)
    assert _iou(refined, true) > 0.95
    monkeypatch.setattr(refine, "REPEATS", 0)  # one pass: the level alone decides
    half_way = refine_mask(gray, prob, 0.5, band=9, edge_levels=(0.5,))
    assert _iou(half_way, true) < 0.85


def test_an_object_that_grows_is_re_decided_until_it_reaches_its_rim(monkeypatch):
    """A grey body darkest at its middle, marked by the model only there: one pass grows it by
    its reach into the body, whose grey ramps up to the rim; decided again from the grown
    outline (reach and background ring farther out) it reaches the rim."""
    shape = (400, 400)
    yy, xx = np.mgrid[:400, :400]
    r = np.hypot(xx - 200.0, yy - 200.0)
    gray = np.where(r <= 120, 0.2 + 0.4 * r / 120, 0.9).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
    gray += np.random.default_rng(1).normal(0, 0.01, shape).astype(np.float32)
    prob = _coarse(shape, 200, 200, 60)
    true = _disc(shape, 200, 200, 120)
    assert _iou(refine_mask(gray, prob, 0.5, band=9), true) > 0.95
    monkeypatch.setattr(refine, "REPEATS", 0)
    once = refine_mask(gray, prob, 0.5, band=9)
    assert _iou(prob >= 0.5, true) < _iou(once, true) < 0.5


def test_neighbours_stay_separate_and_small_objects_untouched():
    shape = (300, 400)
    gray = _brightfield(shape, [(120, 150, 70), (262, 150, 70)], blur=3.0)  # 2 px apart
    prob = np.maximum(_coarse(shape, 120, 150, 63), _coarse(shape, 262, 150, 63))
    cv2.circle(prob, (370, 40), 6, 1.0, -1)  # a small blob (below min area) on background
    refined = refine_mask(gray, prob, 0.5, band=9, min_area_px=400)
    n, lab = cv2.connectedComponents(refined, connectivity=8)
    assert n - 1 == 3  # two discs and the small blob, none merged
    assert lab[150, 120] != lab[150, 262]
    assert np.array_equal(refined[25:56, 355:386], (prob[25:56, 355:386] >= 0.5).astype(np.uint8))
    for cx in (120, 262):
        assert _iou(lab == lab[150, cx], _disc(shape, cx, 150, 70)) > 0.93


def test_loose_cells_at_the_rim_are_not_absorbed():
    shape = (300, 300)
    gray = _brightfield(shape, [(150, 150, 80)], blur=2.0)
    rng = np.random.default_rng(3)
    for a in rng.uniform(0, 2 * np.pi, 12):  # 3 px dark dots just outside the rim
        x, y = 150 + 86 * np.cos(a), 150 + 86 * np.sin(a)
        cv2.circle(gray, (round(x), round(y)), 2, 0.2, -1)
    prob = _coarse(shape, 150, 150, 74)
    refined = refine_mask(gray, prob, 0.5, band=9)
    assert _iou(refined, _disc(shape, 150, 150, 80)) > 0.95


def test_a_large_object_reaches_its_rim_beyond_the_models_band():
    shape = (400, 400)
    gray = _brightfield(shape, [(200, 200, 150)])
    prob = _coarse(shape, 200, 200, 128)  # a big spheroid outlined 22 px inside its rim
    refined = refine_mask(gray, prob, 0.5, band=6)  # 0.15 x 128 px: a 19 px band for this object
    true = _disc(shape, 200, 200, 150)
    assert _iou(prob >= 0.5, true) < 0.75
    assert _iou(refined, true) > 0.9


def _body_beside_a_dark_corner():
    """A grey body darkest at its middle (marked by the model only there) beside a dark
    vignetted corner that reaches the image border, as at the corner of a well."""
    shape = (400, 400)
    yy, xx = np.mgrid[:400, :400]
    r = np.hypot(xx - 150.0, yy - 200.0)
    corner = 0.9 - 0.7 * np.clip(1 - np.hypot(xx, yy - 400.0) / 300, 0, 1)
    gray = np.where(r <= 120, 0.2 + 0.4 * r / 120, corner).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
    gray += np.random.default_rng(1).normal(0, 0.01, shape).astype(np.float32)
    return gray, _coarse(shape, 150, 200, 60), _disc(shape, 150, 200, 120)


def _on_border(m):
    return bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())


def test_a_repeated_pass_stops_short_of_a_dark_corner_at_the_border():
    """Grown from its middle, the body is decided again; that pass would follow the dark corner
    to the image border: with ``stop_at_border`` it is refused and the body keeps the outline
    it reached."""
    gray, prob, true = _body_beside_a_dark_corner()
    refined = refine_mask(gray, prob, 0.5, band=9, stop_at_border=True)
    assert not _on_border(refined) and _iou(refined, true) > 0.9
    leaked = refine_mask(gray, prob, 0.5, band=9)
    assert _on_border(leaked) and _iou(leaked, true) < 0.8


def _dark_body_beside_a_grey_one():
    """A dark spheroid touching a grey one (darker at its middle, 0.3 -> 0.5), the grey one marked
    by the model only at its middle (30 of 50 px): between them the grey body is darker than the
    half-way level of the dark one's refinement."""
    shape = (300, 400)
    dark, grey = _disc(shape, 130, 150, 80), _disc(shape, 260, 150, 50)  # touching at x = 210
    yy, xx = np.mgrid[:300, :400]
    gray = np.where(dark > 0, 0.15, np.where(grey > 0, 0.3 + 0.2 * np.hypot(xx - 260.0, yy - 150.0) / 50, 0.85))
    gray = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 2.0)
    gray += np.random.default_rng(0).normal(0, 0.01, shape).astype(np.float32)
    prob = np.maximum(_coarse(shape, 130, 150, 72), _coarse(shape, 265, 150, 30))
    return gray, prob, dark, grey


def _pieces_at(mask, *points):
    _, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return [lab == lab[y, x] for x, y in points]


def test_an_object_grows_only_where_it_is_nearer_than_any_other():
    """Refined first (it is larger), the dark body would take the grey one's unmarked rim on its
    side; with ``nearest_only`` an object re-decides only pixels nearer to it than to any other
    object, so each keeps its own body."""
    gray, prob, dark, grey = _dark_body_beside_a_grey_one()
    big, small = _pieces_at(refine_mask(gray, prob, 0.5, band=6, nearest_only=True), (130, 150), (265, 150))
    assert (big & (grey > 0)).sum() < 0.05 * grey.sum()
    assert _iou(big, dark) > 0.95 and _iou(small, grey) > 0.9
    big, small = _pieces_at(refine_mask(gray, prob, 0.5, band=6), (130, 150), (265, 150))
    assert (big & (grey > 0)).sum() > 0.15 * grey.sum() and _iou(small, grey) < 0.8


def test_a_repeated_pass_that_would_run_out_along_a_dark_tail_is_refused():
    """A grey body marked at its middle grows to its rim step by step; beyond the rim a dark tail
    (a strand of debris, a vignetted edge) runs off it. A repeated pass that would follow the tail,
    leaving the object less solid by more than ``max_solidity_drop``, is refused."""
    shape = (400, 400)
    yy, xx = np.mgrid[:400, :400]
    r = np.hypot(xx - 200.0, yy - 200.0)
    tail = (np.abs(np.degrees(np.arctan2(yy - 200.0, xx - 200.0))) < 8) & (r > 100)
    gray = np.where(r <= 120, 0.2 + 0.4 * r / 120, np.where(tail, 0.35, 0.9)).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
    gray += np.random.default_rng(1).normal(0, 0.01, shape).astype(np.float32)
    prob, true = _coarse(shape, 200, 200, 60), _disc(shape, 200, 200, 120)
    kept = refine_mask(gray, prob, 0.5, band=9, max_solidity_drop=0.06)
    assert _iou(kept, true) > 0.9 and not (kept[:, 340:] > 0).any()
    leaked = refine_mask(gray, prob, 0.5, band=9)
    assert (leaked[:, 340:] > 0).any()


def test_an_object_stays_clear_of_objects_found_otherwise():
    """A rescued grey body is refined on its own (the dark spheroid it touches was found before,
    by the model): without ``clear_of`` its outline runs into the dark spheroid; with it the grey
    body keeps clear of it and reaches its rim."""
    gray, _, dark, grey = _dark_body_beside_a_grey_one()
    prob = _coarse(gray.shape, 265, 150, 30)
    alone = refine_mask(gray, prob, 0.5, band=6, nearest_only=True)
    assert (alone & (dark > 0)).sum() > 0.05 * dark.sum()
    clear = refine_mask(gray, prob, 0.5, band=6, nearest_only=True, clear_of=dark)
    assert not (clear & cv2.dilate(dark, np.ones((3, 3), np.uint8))).any()
    assert _iou(clear, grey) > 0.9
    nothing = np.zeros_like(dark)
    assert np.array_equal(refine_mask(gray, prob, 0.5, band=6, clear_of=nothing),
                          refine_mask(gray, prob, 0.5, band=6))
