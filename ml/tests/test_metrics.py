"""Metrics against analytic shapes. Tolerances are stated per assertion."""

import math

import numpy as np
import pytest

from ml.metrics import measure


def circle(cx, cy, r, n=3600):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[cx + r * np.cos(t), cy + r * np.sin(t)]


def ellipse(cx, cy, a, b, deg=0.0, n=3600):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    th = math.radians(deg)
    return np.c_[cx + x * math.cos(th) - y * math.sin(th), cy + x * math.sin(th) + y * math.cos(th)]


def test_circle():
    m = measure(circle(100, 80, 50))
    # polygon with 3600 vertices: relative error of area/perimeter < 1e-5
    assert m["area_px"] == pytest.approx(math.pi * 2500, rel=1e-5)
    assert m["perimeter_px"] == pytest.approx(2 * math.pi * 50, rel=1e-5)
    assert m["equivalent_diameter_px"] == pytest.approx(100, rel=1e-5)
    assert m["circularity"] == pytest.approx(1, abs=1e-4)
    assert m["sphericity"] == pytest.approx(1, abs=1e-4)
    assert m["convexity"] == pytest.approx(1, abs=1e-4)
    assert m["solidity"] == pytest.approx(1, abs=1e-4)
    assert m["extent"] == pytest.approx(math.pi / 4, abs=1e-4)
    assert m["feret_max_px"] == pytest.approx(100, abs=1e-3)
    assert m["feret_min_px"] == pytest.approx(100, abs=1e-3)
    assert m["feret_ratio"] == pytest.approx(1, abs=1e-4)
    assert m["ellipse_major_px"] == pytest.approx(100, abs=1e-2)
    assert m["ellipse_minor_px"] == pytest.approx(100, abs=1e-2)
    assert m["eccentricity"] == pytest.approx(0, abs=1e-2)
    assert m["orientation_deg"] is None  # undefined for a circle: null, not invented
    assert (m["centroid_x"], m["centroid_y"]) == pytest.approx((100, 80), abs=1e-4)
    assert m["bbox"] == pytest.approx([50, 30, 100, 100], abs=1e-3)


def test_square_and_rotated_square_calipers():
    sq = [[0, 0], [10, 0], [10, 10], [0, 10]]
    m = measure(sq)
    assert m["area_px"] == 100 and m["perimeter_px"] == 40  # exact
    assert m["circularity"] == pytest.approx(math.pi / 4, abs=1e-4)
    assert m["feret_max_px"] == pytest.approx(10 * math.sqrt(2), abs=1e-4)
    assert m["feret_min_px"] == pytest.approx(10, abs=1e-4)
    assert m["extent"] == 1 and m["solidity"] == 1 and m["convexity"] == 1
    # a diamond: a bounding rectangle would say 14.14 for both; true calipers give min = side
    d = [[0, -7.0710678], [7.0710678, 0], [0, 7.0710678], [-7.0710678, 0]]
    m = measure(d)
    assert m["feret_min_px"] == pytest.approx(10, abs=1e-4)
    assert m["feret_max_px"] == pytest.approx(14.1421356, abs=1e-4)
    assert m["extent"] == pytest.approx(0.5, abs=1e-4)


def test_ellipse_and_orientation():
    m = measure(ellipse(0, 0, 60, 20))
    assert m["ellipse_major_px"] == pytest.approx(120, rel=1e-4)
    assert m["ellipse_minor_px"] == pytest.approx(40, rel=1e-4)
    assert m["eccentricity"] == pytest.approx(math.sqrt(1 - (20 / 60) ** 2), abs=1e-4)
    assert m["feret_max_px"] == pytest.approx(120, abs=1e-3)
    assert m["feret_min_px"] == pytest.approx(40, abs=1e-3)
    assert m["orientation_deg"] == pytest.approx(0, abs=1e-4)
    # rotated by +30° in image coordinates (y down) = clockwise on screen -> -30° reported
    m = measure(ellipse(0, 0, 60, 20, 30))
    assert m["orientation_deg"] == pytest.approx(-30, abs=1e-3)
    assert m["feret_max_px"] == pytest.approx(120, abs=1e-3)


def test_ring_with_hole():
    m = measure(circle(0, 0, 50), [circle(0, 0, 20)[::-1]])
    assert m["area_px"] == pytest.approx(math.pi * (2500 - 400), rel=1e-5)
    assert m["perimeter_px"] == pytest.approx(2 * math.pi * 50, rel=1e-5)  # exterior only
    assert m["holes"] == 1
    assert m["solidity"] == pytest.approx((2500 - 400) / 2500, abs=1e-4)
    assert (m["centroid_x"], m["centroid_y"]) == pytest.approx((0, 0), abs=1e-4)
    # second moments of an annulus: major = minor = 4*sqrt((R^2 + r^2)/4)
    assert m["ellipse_major_px"] == pytest.approx(4 * math.sqrt((2500 + 400) / 4), rel=1e-4)


def test_concave_l_shape():
    L = [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]
    m = measure(L)
    assert m["area_px"] == pytest.approx(3)
    assert m["perimeter_px"] == pytest.approx(8)
    assert m["solidity"] == pytest.approx(3 / 3.5, abs=1e-4)
    assert m["convexity"] == pytest.approx((6 + math.sqrt(2)) / 8, abs=1e-4)
    assert m["extent"] == pytest.approx(3 / 4, abs=1e-4)
    assert m["feret_max_px"] == pytest.approx(2 * math.sqrt(2), abs=1e-4)
    # centroid of the L: (5/6, 5/6)
    assert (m["centroid_x"], m["centroid_y"]) == pytest.approx((5 / 6, 5 / 6), abs=1e-4)


def test_units_and_degenerate():
    m = measure([[0, 0], [10, 0], [10, 10], [0, 10]], pixel_size_um=0.5)
    assert m["area_um2"] == pytest.approx(25)
    assert m["perimeter_um"] == pytest.approx(20)
    assert m["feret_min_um"] == pytest.approx(5)
    d = measure([[0, 0], [5, 5]])
    assert d["area_px"] is None and d["circularity"] is None and d["feret_max_px"] is None
    z = measure([[0, 0], [1, 1], [2, 2]])  # collinear: zero area
    assert z["area_px"] is None and z["circularity"] is None and z["solidity"] is None
