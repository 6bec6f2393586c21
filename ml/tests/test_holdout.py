"""The evaluation-only hold-out generator (ml.holdout): deterministic, well-formed labels that
cover the spheroid bodies only, narrow-range 16-bit images, and a CLI whose files pair up."""

import math

import numpy as np
import pytest
from scipy import ndimage

from ml.holdout import generate, main, render
from ml.io import read_image

SIZE = (320, 320)
SEEDS = range(12)


@pytest.fixture(scope="module")
def scenes():
    return {s: render(s, SIZE) for s in SEEDS}


def test_same_seed_same_scene_and_seeds_differ():
    img_a, lab_a = generate(5, SIZE)
    img_b, lab_b = generate(5, SIZE)
    assert np.array_equal(img_a, img_b) and np.array_equal(lab_a, lab_b)
    img_c, _ = generate(6, SIZE)
    assert img_a.shape[:2] == img_c.shape[:2] == SIZE
    assert img_a.dtype != img_c.dtype or img_a.shape != img_c.shape or not np.array_equal(img_a, img_c)


def test_default_size_and_non_square():
    img, lab = generate(2)
    assert img.shape[:2] == (1000, 1000) and lab.shape == (1000, 1000) and lab.dtype == np.int32
    img, lab = generate(4, (240, 360))
    assert img.shape[:2] == (240, 360) and lab.shape == (240, 360)


def test_clutter_density_does_not_grow_with_the_image_size(scenes):
    """Objects and cells scale with the short side, so a larger image of a scene holds about as
    many loose cells, halo cells and specks as a smaller one (not as many more as it has pixels)."""
    seeds = list(SEEDS)[:6]
    small = sum(len(scenes[s].distractors) for s in seeds)
    large = sum(len(render(s, (2 * SIZE[0], 2 * SIZE[1])).distractors) for s in seeds)
    assert 0.7 <= large / small <= 1.4, (small, large)
    # twice the field at the same scale: twice the background clutter, the same halos
    def background(sc):
        return sum(d.kind != "halo_cell" for d in sc.distractors)

    small_bg = sum(background(scenes[s]) for s in seeds)
    wide_bg = sum(background(render(s, (SIZE[0], 2 * SIZE[1]))) for s in seeds)
    assert 1.4 <= wide_bg / small_bg <= 2.8, (small_bg, wide_bg)


def test_labels_are_consecutive_connected_and_plausible(scenes):
    scale = min(SIZE) / 1000.0
    counts = []
    for s, sc in scenes.items():
        lab = sc.labels
        assert lab.dtype == np.int32
        n = len(sc.spheroids)
        counts.append(n)
        assert 0 <= n <= 5
        assert sorted(np.unique(lab).tolist()) == list(range(n + 1)), s
        for o in sc.spheroids:
            m = lab == o.label
            _, ncomp = ndimage.label(m)
            assert ncomp == 1, (s, o.label)
            # diameters 60..450 px on a 1000 px image; contacts and border cuts take a part
            assert 1000 * scale**2 <= m.sum() <= math.pi * (240 * scale) ** 2 * 1.6, (
                s,
                o.label,
                int(m.sum()),
            )
    assert max(counts) >= 2 and min(counts) <= 1


def test_labelled_area_is_the_rendered_bodies_only(scenes):
    for s, sc in scenes.items():
        lab = sc.labels
        areas = np.bincount(lab.ravel(), minlength=len(sc.spheroids) + 1)
        assert sum(o.area for o in sc.spheroids) == int((lab > 0).sum()), s
        assert [o.area for o in sc.spheroids] == areas[1:].tolist()
        h, w = lab.shape
        yy, xx = np.mgrid[:h, :w]
        for d in sc.distractors:
            xi, yi = int(round(d.x)), int(round(d.y))
            if 0 <= xi < w and 0 <= yi < h:
                assert lab[yi, xi] == 0, (s, d.kind)
            if not d.touches:  # the whole footprint of a free distractor is background
                disc = (xx - d.x) ** 2 + (yy - d.y) ** 2 <= d.radius**2
                assert not np.any(lab[disc]), (s, d.kind)
    kinds = {d.kind for sc in scenes.values() for d in sc.distractors}
    assert {"cell", "debris", "dust"} <= kinds


def test_bit_depths_and_colour(scenes):
    dtypes = [sc.image.dtype for sc in scenes.values()]
    assert np.uint16 in dtypes and np.uint8 in dtypes
    for sc in scenes.values():
        img = sc.image
        if img.dtype == np.uint16:
            assert img.ndim == 2
            assert int(img.min()) >= 1000 and int(img.max()) <= 12000  # a narrow band of 65 535
        if img.ndim == 3:
            means = img.reshape(-1, 3).astype(float).mean(0)
            assert means.max() / means.min() < 1.25  # a slight tint only
    assert any(sc.image.ndim == 3 for sc in scenes.values())


def test_cli_writes_pairs_that_read_back(tmp_path, capsys):
    from ml.evaluate import load_pairs

    assert main(["--out", str(tmp_path), "--n", "4", "--seed", "0", "--size", "200"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("spheroids=" in ln and "distractors" in ln for ln in lines)
    images = sorted(p for p in (tmp_path / "images").iterdir())
    masks = sorted(p for p in (tmp_path / "masks").iterdir())
    overlays = sorted(p for p in (tmp_path / "overlays").iterdir())
    assert [p.stem for p in images] == [p.stem for p in masks] == [p.stem for p in overlays]
    assert [p.stem for p in images] == [f"holdout_{i}" for i in range(4)]
    for p, m in zip(images, masks, strict=True):
        sc = render(int(p.stem.split("_")[1]), (200, 200))
        img, _ = read_image(p)
        lab, info = read_image(m)
        assert info.bit_depth == 16
        assert np.array_equal(img, sc.image) and np.array_equal(lab.astype(np.int32), sc.labels)
    assert {p.suffix for p in images} == {".png", ".tif"}  # seeds 0-3: RGB, grey, two 16-bit TIFFs
    assert {read_image(p)[0].dtype for p in images} == {np.dtype(np.uint8), np.dtype(np.uint16)}
    assert len(load_pairs(tmp_path / "images", tmp_path / "masks")) == 4
