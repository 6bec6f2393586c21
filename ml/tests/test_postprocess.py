import cv2
import numpy as np
import pytest

from ml.geometry import polygon_area, rasterize
from ml.metrics import measure
from ml.postprocess import fill_small_holes, instances, label_pieces


def _disc_map(shape, discs):
    m = np.zeros(shape, np.float32)
    for (x, y, r) in discs:
        cv2.circle(m, (x, y), r, 1.0, -1)
    return m


def test_touching_discs_are_split():
    m = _disc_map((300, 400), [(120, 150, 80), (245, 150, 50)])
    polys = instances(m, min_area_px=50)
    assert len(polys) == 2
    areas = sorted(measure(p["exterior"], p["holes"])["area_px"] for p in polys)
    assert areas[0] == pytest.approx(np.pi * 50 ** 2, rel=0.12)
    assert areas[1] == pytest.approx(np.pi * 80 ** 2, rel=0.12)


def test_touching_rings_are_split_and_none_is_lost():
    """Two touching rings (a network's map of two spheroids with pale middles): the split's peaks
    lie in their holes, and the pieces are flooded over the filled shape, so neither ring is lost
    (both were, when the seeds in the holes were cleared) and each keeps its own hole."""
    m = _disc_map((300, 400), [(120, 150, 80), (270, 150, 75)])
    cv2.circle(m, (120, 150), 40, 0.0, -1)
    cv2.circle(m, (270, 150), 35, 0.0, -1)
    polys = instances(m, min_area_px=50)
    assert len(polys) == 2
    by_x = sorted(polys, key=lambda p: np.mean(np.asarray(p["exterior"])[:, 0]))
    for p, (r, hole) in zip(by_x, [(80, 40), (75, 35)], strict=True):
        assert len(p["holes"]) == 1
        assert measure(p["exterior"], p["holes"])["area_px"] == pytest.approx(np.pi * (r * r - hole * hole), rel=0.15)


def test_single_disc_not_split_and_small_removed():
    m = _disc_map((300, 300), [(150, 150, 90), (20, 20, 3)])
    polys = instances(m, min_area_px=100)
    assert len(polys) == 1


def test_hole_ownership_and_island():
    m = _disc_map((300, 500), [(120, 150, 100)])
    cv2.circle(m, (120, 150), 50, 0.0, -1)  # a hole (area > min area: kept)
    cv2.circle(m, (120, 150), 20, 1.0, -1)  # an island inside the hole
    cv2.circle(m, (400, 150), 60, 1.0, -1)  # a separate solid object
    polys = instances(m, min_area_px=200)
    assert len(polys) == 3
    holes = sorted(len(p["holes"]) for p in polys)
    assert holes == [0, 0, 1]  # only the ring owns a hole
    ring = next(p for p in polys if p["holes"])
    mr = measure(ring["exterior"], ring["holes"])
    assert mr["area_px"] < 0.8 * np.pi * 100 ** 2
    lab = rasterize(polys, 300, 500)
    assert lab[150, 120] > 0 and lab[150, 120] != lab[150, 30]  # island is its own object
    assert lab[150, 165] == 0  # hole stays background


def test_small_holes_filled_and_simplification():
    m = _disc_map((300, 300), [(150, 150, 100)])
    m[150:153, 150:153] = 0  # a tiny hole (9 px) below min area -> filled
    polys = instances(m, min_area_px=100)
    assert len(polys) == 1 and polys[0]["holes"] == []
    cs, _ = cv2.findContours((m > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    assert len(polys[0]["exterior"]) < len(cs[0]) / 5  # far fewer vertices than contour pixels
    assert polygon_area(polys[0]["exterior"]) == pytest.approx(np.pi * 100 ** 2, rel=0.02)


def test_rasterize_roundtrip():
    m = _disc_map((200, 200), [(60, 60, 40), (150, 140, 30)])
    polys = instances(m, min_area_px=50, eps=0.0)
    lab = rasterize(polys, 200, 200)
    assert lab.dtype == np.uint16 and lab.max() == 2
    assert ((lab > 0) == (m > 0.5)).mean() > 0.999


def test_discs_joined_by_a_wide_neck_are_split_by_convexity():
    # centres 100 px apart, radii 62 and 60: the neck is about 70 % of the smaller radius, too wide
    # for the saddle test alone; the split leaves two convex pieces
    m = _disc_map((300, 400), [(150, 150, 62), (250, 150, 60)])
    from ml.postprocess import _merge_peaks, _peaks  # the saddle test on its own keeps one object

    comp = (m > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(np.pad(comp, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    assert len(_merge_peaks(dist, _peaks(dist, 0.3 * dist.max()), 0.55)) == 1
    polys = instances(m, min_area_px=50)
    assert len(polys) == 2
    cx = sorted(measure(p["exterior"], p["holes"])["centroid_x"] for p in polys)
    assert cx[0] == pytest.approx(145, abs=8) and cx[1] == pytest.approx(255, abs=8)


def test_elongated_bodies_pressed_side_by_side_are_cut_between_their_concave_points(monkeypatch):
    # two upright ellipses (45 x 110 px half-axes) 80 px apart: the distance map is one ridge with
    # no neck, but the outline has a deep concave point at the top and at the bottom of the seam
    m = np.zeros((320, 400), np.float32)
    for x in (150, 230):
        cv2.ellipse(m, (x, 150), (45, 110), 0, 0, 360, 1.0, -1)
    from ml import postprocess

    comp = m > 0.5
    assert postprocess.split_touching(comp)[1] == 2
    with monkeypatch.context() as mp:
        mp.setattr(postprocess, "CONCAVE_CUT", False)
        assert postprocess.split_touching(comp)[1] == 1  # the distance-map split alone keeps one
    polys = instances(m, min_area_px=50)
    assert len(polys) == 2
    cx = sorted(measure(p["exterior"], p["holes"])["centroid_x"] for p in polys)
    assert cx[0] == pytest.approx(145, abs=6) and cx[1] == pytest.approx(235, abs=6)
    for p in polys:
        assert measure(p["exterior"], p["holes"])["area_px"] == pytest.approx(
            float(comp.sum()) / 2, rel=0.08)


def test_a_body_cracked_inside_is_one_object_that_keeps_its_hole():
    # a textured body whose mask has a long crack inside (a hole larger than the minimum area):
    # the crack is no neck between two bodies, the outline keeps it as a hole
    m = _disc_map((300, 300), [(150, 150, 100)])
    m[147:154, 75:225] = 0.0
    polys = instances(m, min_area_px=50)
    assert len(polys) == 1
    assert len(polys[0]["holes"]) == 1
    assert measure(polys[0]["exterior"], polys[0]["holes"])["area_px"] == pytest.approx(
        np.pi * 100 ** 2 - 7 * 150, rel=0.03)


def test_a_lumpy_or_elongated_single_body_is_not_split():
    ellipse = np.zeros((300, 400), np.float32)
    cv2.ellipse(ellipse, (200, 150), (150, 70), 20, 0, 360, 1.0, -1)  # aspect 2.1
    assert len(instances(ellipse, min_area_px=50)) == 1
    bulge = _disc_map((300, 300), [(150, 150, 90), (215, 150, 40)])  # a body with a bulge
    assert len(instances(bulge, min_area_px=50)) == 1
    # a lumpy, nearly convex body (solidity 0.97) whose two distance peaks the looser saddle
    # ratio keeps apart: cutting it would not leave pieces much more convex than the whole
    lumpy = _disc_map((350, 350), [(190, 176, 46), (153, 124, 34), (121, 139, 78), (191, 220, 60)])
    assert len(instances(lumpy, min_area_px=50)) == 1


def test_confidence_is_the_models_own_probability_when_the_outline_grows():
    prob = np.zeros((300, 300), np.float32)
    cv2.circle(prob, (150, 150), 70, 0.3, -1)  # the soft rim the model is unsure of
    cv2.circle(prob, (150, 150), 50, 0.9, -1)
    mask = _disc_map((300, 300), [(150, 150, 70)]) > 0  # a refined outline out to the rim
    polys = instances(prob, mask=mask, min_area_px=50)
    assert len(polys) == 1 and polys[0]["confidence"] == pytest.approx(0.9, abs=0.01)


def test_a_body_joined_to_a_neighbour_the_border_cuts_is_split_off_when_the_border_continues_it():
    """A disc whole in the frame (r 100) overlapping, by 40 px, a larger one (r 120) that the
    right border cuts 70 px in: with the border taken as background the cut piece makes no peak
    of its own and the two stay one object; taken as no edge (``border_continues``) they split,
    the whole disc coming out whole and off the border."""
    m = np.zeros((280, 250), np.float32)
    cv2.circle(m, (120, 140), 100, 0.9, -1)
    cv2.circle(m, (300, 140), 120, 0.9, -1)
    assert len(instances(m, min_area_px=50)) == 1
    polys = instances(m, min_area_px=50, border_continues=True)
    assert len(polys) == 2
    whole = max(polys, key=lambda p: measure(p["exterior"], p["holes"])["area_px"])
    x, _, w, _ = measure(whole["exterior"], whole["holes"])["bbox"]
    assert measure(whole["exterior"], whole["holes"])["area_px"] == pytest.approx(np.pi * 100 ** 2, rel=0.1)
    assert x + w < 240  # its right edge near the overlap's middle (200), not at the border


@pytest.mark.parametrize("connectivity", [8, 4])
def test_label_pieces_gives_opencvs_labels_and_stats_on_any_mask(connectivity):
    rng = np.random.default_rng(5)
    right, top = np.zeros((20, 30), np.uint8), np.zeros((20, 30), np.uint8)
    right[:, 17:] = 1  # the background lies only left of the bounding box
    top[:5, :] = 1  # ... only under it
    masks, sparse = [np.zeros((37, 50), np.uint8), np.ones((31, 20), np.uint8), right, top], 0
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(20, 300, 2))
        m = np.zeros((h, w), np.uint8)
        # a window of the mask holds everything (it may reach the border): blobs, some touching,
        # some cut by the window's edge, specks and holes
        y0, x0 = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        win = m[y0:y0 + int(rng.integers(3, h - y0 + 1)), x0:x0 + int(rng.integers(3, w - x0 + 1))]
        wh, ww = win.shape
        for _ in range(int(rng.integers(1, 8))):
            cx, cy = rng.integers(-5, ww + 5), rng.integers(-5, wh + 5)
            axes = (int(rng.integers(1, max(2, ww // 3))), int(rng.integers(1, max(2, wh // 3))))
            cv2.ellipse(win, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        win[rng.random(win.shape) < 0.01] ^= 1
        if rng.random() < 0.15:
            m = 1 - m  # a mostly full mask
        x, y, bw, bh = cv2.boundingRect(m)
        sparse += (x + bw - (x & ~1)) * (y + bh - (y & ~1)) <= 0.5 * h * w
        masks.append(m)
    assert sparse >= 80  # most masks are worked out on their bounding box
    for m in masks:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=connectivity)
        n2, lab2, stats2 = label_pieces(m, connectivity)
        assert n2 == n and np.array_equal(lab2, lab) and np.array_equal(stats2, stats), m.shape
        assert lab2.dtype == np.int32


def test_fill_small_holes_fills_only_enclosed_regions_under_the_area():
    from scipy import ndimage as ndi

    rng = np.random.default_rng(9)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(10, 200, 2))
        m = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 6))):  # rings and blobs, some cut by the border
            c = (int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5)))
            r = int(rng.integers(2, max(3, min(h, w) // 2)))
            cv2.circle(m, c, r, 1, int(rng.choice([-1, 1, 2, 3])))
        m[rng.random((h, w)) < 0.05] = 0  # pinholes
        max_area = int(rng.integers(1, 400))
        holes, n = ndi.label(ndi.binary_fill_holes(m) & (m == 0))  # enclosed, 4-connected regions
        sizes = np.bincount(holes.ravel(), minlength=n + 1)
        small = sizes < max_area
        small[0] = False
        expected = m | small[holes].astype(np.uint8)
        assert np.array_equal(fill_small_holes(m, max_area), expected)
