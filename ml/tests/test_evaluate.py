import csv

import cv2
import numpy as np
import pytest

from ml.evaluate import compare, main, object_rows


def _disc(shape, cx, cy, r, label=1, into=None):
    out = np.zeros(shape, np.int32) if into is None else into
    cv2.circle(out, (cx, cy), r, label, -1)
    return out


def test_compare_counts_matches_misses_and_false_objects():
    gt = _disc((200, 200), 50, 50, 20)
    _disc((200, 200), 150, 150, 20, label=2, into=gt)
    pred = _disc((200, 200), 52, 50, 20)  # the first, slightly shifted
    _disc((200, 200), 150, 40, 10, label=2, into=pred)  # a false object; the second reference missed
    r = compare(gt, pred)
    assert r["n_ref"] == 2 and r["n_pred"] == 2 and r["count_err"] == 0
    assert 0.85 < r["mIoU"] < 1.0
    assert r["AP50"] == 1 / 3  # TP 1 / (TP 1 + FP 1 + FN 1)


def test_object_rows_tell_true_from_false_objects():
    gt = _disc((200, 200), 50, 50, 20)
    pred = _disc((200, 200), 50, 50, 20)
    _disc((200, 200), 190, 100, 15, label=2, into=pred)  # false, at the border
    polygons = [
        {"exterior": [[30, 30], [70, 30], [70, 70], [30, 70]], "confidence": 0.9,
         "metrics": {"solidity": 0.99, "bbox": [30, 30, 40, 40]}},
        {"exterior": [[175, 85], [199, 85], [199, 115], [175, 115]], "confidence": 0.6,
         "metrics": {"solidity": 0.8, "bbox": [175, 85, 24, 30]}},
    ]
    rows = object_rows("m", "img", gt, pred, polygons)
    assert [r["true"] for r in rows] == [True, False]
    assert rows[0]["best_iou"] == 1.0 and rows[1]["best_iou"] == 0.0
    assert [r["touches_border"] for r in rows] == [False, True]
    assert rows[1]["confidence"] == 0.6 and rows[1]["solidity"] == 0.8


def test_evaluate_writes_one_row_per_predicted_object(tmp_path, demo_dir, capsys):
    out = tmp_path / "objects.csv"
    masks = demo_dir.parent / "reference_masks"
    assert main(["--images", str(demo_dir), "--masks", str(masks), "--model", "classical", "--objects", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    predicted = sum(int(line.split()[2]) for line in printed.splitlines() if line.startswith("spheroid_"))
    assert len(rows) == predicted > 0
    assert all((r["true"] == "True") == (float(r["best_iou"]) >= 0.5) for r in rows)
    single = [r for r in rows if r["image"] == "spheroid_single.png"]
    assert len(single) == 1 and float(single[0]["best_iou"]) > 0.9 and float(single[0]["solidity"]) > 0.95
    assert "== objects of classical" in printed


def test_evaluate_on_holdout_images(capsys):
    from ml.holdout import generate

    assert main(["--holdout", "2", "--seed", "3", "--size", "320", "--model", "classical"]) == 0
    printed = capsys.readouterr().out
    assert "2 ml.holdout images, seeds 3-4, 320x320" in printed
    refs = {line.split()[0]: int(line.split()[1]) for line in printed.splitlines() if line.startswith("holdout_")}
    assert refs == {f"holdout_{s}": int(generate(s, (320, 320))[1].max()) for s in (3, 4)}


def test_evaluate_on_non_square_images(capsys):
    from ml.holdout import generate

    assert main(["--holdout", "1", "--seed", "3", "--size", "240x360", "--model", "classical"]) == 0
    printed = capsys.readouterr().out
    assert "1 ml.holdout images, seeds 3-3, 240x360" in printed
    refs = {line.split()[0]: int(line.split()[1]) for line in printed.splitlines() if line.startswith("holdout_")}
    assert refs == {"holdout_3": int(generate(3, (240, 360))[1].max())}
    for bad in ("240x", "16", "axb"):
        with pytest.raises(SystemExit):
            main(["--holdout", "1", "--size", bad])
        assert "--size" in capsys.readouterr().err


def test_degraded_pairs_blur_and_add_noise_in_the_image_dtype():
    from ml.evaluate import degraded_pairs

    lab = _disc((100, 120), 60, 50, 20)
    img = np.where(lab > 0, 40, 200).astype(np.uint8)
    [(name, soft, same)] = degraded_pairs([("well.png", img, lab)], blur=3)
    assert name == "well_b3.png" and soft.dtype == np.uint8 and same is lab
    assert soft[50, 60] == 40 and soft[5, 5] == 200  # far from the edge nothing changes
    assert 40 < soft[50, 60 + 20] < 200  # the edge is soft
    wide = (img.astype(np.uint16) * 200)
    [(name, noisy, _)] = degraded_pairs([("well.tif", wide, lab)], noise=0.05)
    assert name == "well_n0.05.tif" and noisy.dtype == np.uint16
    spread = (noisy.astype(float) - wide)[5:40, 5:40].std()
    assert spread == pytest.approx(0.05 * (200 - 40) * 200, rel=0.1)  # 5 % of the range
    [(_, again, _)] = degraded_pairs([("well.tif", wide, lab)], noise=0.05)
    assert np.array_equal(noisy, again)  # seeded
    with pytest.raises(ValueError):
        degraded_pairs([("well.png", img, lab)], blur=-1)


def test_zoomed_pairs_enlarge_the_crop_around_the_reference_objects():
    from ml.evaluate import zoomed_pairs

    lab = _disc((200, 300), 140, 90, 20)
    img = np.where(lab > 0, 40, 200).astype(np.uint8)
    [(name, big, big_lab)] = zoomed_pairs([("well.png", img, lab)], 2)
    assert name == "well_x2.png" and big.shape == img.shape and big_lab.shape == lab.shape
    ys, xs = np.nonzero(big_lab)
    assert len(ys) == pytest.approx(4 * np.pi * 20 ** 2, rel=0.05)  # the disc seen twice as large
    assert (ys.mean(), xs.mean()) == pytest.approx((100, 150), abs=2)  # in the middle of the crop
    assert big[100, 150] < 60 and big[5, 5] > 180  # the image enlarged with it
    lab_at_edge = _disc((200, 300), 10, 10, 8)  # the crop stays inside the image
    [(_, _, edge)] = zoomed_pairs([("edge.png", img, lab_at_edge)], 4)
    ys, xs = np.nonzero(edge)
    assert (ys.mean(), xs.mean()) == pytest.approx((40, 40), abs=2)  # the crop starts at the corner
    [(name, small, small_lab)] = zoomed_pairs([("well.png", img, lab)], 0.5)  # the same field, fewer pixels
    assert name == "well_x0.5.png" and small.shape == (100, 150) and small_lab.shape == (100, 150)
    ys, xs = np.nonzero(small_lab)
    assert len(ys) == pytest.approx(np.pi * 10 ** 2, rel=0.1)  # a quarter of the disc's pixels
    assert (ys.mean(), xs.mean()) == pytest.approx((45, 70), abs=1.5)
    assert small[45, 70] < 60 and small[5, 5] > 180
    for bad in (0, -1):
        with pytest.raises(ValueError):
            zoomed_pairs([("well.png", img, lab)], bad)


def test_resampled_pairs_keep_the_whole_field_with_more_or_fewer_pixels():
    from ml.evaluate import resampled_pairs, zoomed_pairs

    lab = _disc((200, 300), 140, 90, 20)
    img = np.where(lab > 0, 40, 200).astype(np.uint8)
    [(name, big, big_lab)] = resampled_pairs([("well.png", img, lab)], 3)
    assert name == "well_s3.png" and big.shape == big_lab.shape == (600, 900) and big_lab.max() == 1
    ys, xs = np.nonzero(big_lab)
    assert len(ys) == pytest.approx(9 * np.pi * 20 ** 2, rel=0.03)  # the disc 3 x as wide
    assert (ys.mean(), xs.mean()) == pytest.approx((271, 421), abs=2)  # where it was, 3 x as far
    assert big[271, 421] < 60 and big[5, 5] > 180 and big.dtype == img.dtype
    [(_, small, small_lab)] = resampled_pairs([("well.png", img, lab)], 0.5)  # as --zoom 0.5 resamples it
    [(_, zoomed, zoomed_lab)] = zoomed_pairs([("well.png", img, lab)], 0.5)
    assert np.array_equal(small, zoomed) and np.array_equal(small_lab, zoomed_lab)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            resampled_pairs([("well.png", img, lab)], bad)


def test_close_up_pairs_show_each_reference_object_filling_the_field():
    from ml.evaluate import close_up_pairs

    lab = _disc((200, 300), 140, 90, 20) + 2 * _disc((200, 300), 12, 170, 10)  # one in the middle, one at the edge
    img = np.where(lab > 0, 40, 200).astype(np.uint8)
    (n1, i1, l1), (n2, _, l2) = close_up_pairs([("well.png", img, lab)], 1.5)
    assert (n1, n2) == ("well_o1_c1.5.png", "well_o2_c1.5.png")
    assert i1.shape == l1.shape == l2.shape == (200, 200) and l1.max() == l2.max() == 1
    ys, xs = np.nonzero(l1)  # 41 px across in a 62 px square enlarged to 200 px
    assert (ys.mean(), xs.mean()) == pytest.approx((100, 100), abs=2)
    assert len(ys) == pytest.approx(np.pi * (20 * 200 / 62) ** 2, rel=0.06)
    assert i1[100, 100] < 60 and i1[3, 3] > 180  # the image enlarged with it
    ys, xs = np.nonzero(l2)  # the square shifted to stay inside the image: the object off its middle
    assert xs.mean() == pytest.approx(12.5 * 200 / 32, abs=2) and ys.mean() == pytest.approx(100, abs=4)
    for bad in (0.5, 0, -1):
        with pytest.raises(ValueError):
            close_up_pairs([("well.png", img, lab)], bad)


@pytest.mark.parametrize("option, value, label, name, bad, error", [
    ("--close-ups", "1.5", "6 close-ups (1.5 x each object's diameter)", "spheroid_pair_o2_c1.5.png", "0.5",
     "--close-ups: a close-up must be at least 1 x the object's diameter"),
    ("--zoom", "1.5", "seen 1.5 x closer", "spheroid_single_x1.5.png", "0", "--zoom: a zoom factor must be positive"),
    ("--zoom", "0.3", "resampled to 0.3 x its size", "spheroid_pair_x0.3.png", "-2",
     "--zoom: a zoom factor must be positive"),
    ("--resample", "1.5", "resampled to 1.5 x its size", "spheroid_pair_s1.5.png", "0",
     "--resample: a resampling factor must be positive"),
    ("--gamma", "1.5", "tone curve raised to the power 1.5", "spheroid_single_g1.5.png", "-1",
     "--gamma: gamma must be positive"),
    ("--blur", "2", "blurred (sigma 2 px)", "spheroid_single_b2.png", "-1",
     "--blur / --noise: blur and noise must not be negative"),
    ("--noise", "0.05", "noise 0.05 x its range", "spheroid_pair_n0.05.png", "-0.1",
     "--blur / --noise: blur and noise must not be negative"),
])
def test_evaluate_transforms_the_reference_images(option, value, label, name, bad, error, demo_dir, capsys):
    masks = demo_dir.parent / "reference_masks"
    assert main(["--images", str(demo_dir), "--masks", str(masks), "--model", "classical", option, value]) == 0
    printed = capsys.readouterr().out
    assert label in printed and name in printed
    with pytest.raises(SystemExit):
        main(["--images", str(demo_dir), "--masks", str(masks), option, bad])
    assert error in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--zoom", "--close-ups", "--resample"])
def test_evaluate_image_variants_go_with_reference_images(option, capsys):
    with pytest.raises(SystemExit):
        main(["--synthetic", "1", option, "2"])
    assert f"{option} goes with --images and --masks" in capsys.readouterr().err


def test_toned_pairs_bend_the_tone_curve_and_keep_the_masks():
    from ml.evaluate import toned_pairs

    lab = _disc((100, 100), 50, 50, 20)
    img = np.full((100, 100), 250, np.uint8)
    img[lab > 0] = 10
    img[:, :10] = 130  # a mid-grey band
    [(name, dark, same)] = toned_pairs([("well.png", img, lab)], 2)
    assert name == "well_g2.png" and dark.dtype == np.uint16 and same is lab
    mid_before = (130 - 10) / (250 - 10)  # where normalisation puts the band
    assert dark[50, 5] / 65535 == pytest.approx(mid_before ** 2, abs=0.02)  # darker mid-tones
    assert dark[50, 50] == 0 and dark[5, 50] == 65535  # the ends stay where they were
    [(_, light, _)] = toned_pairs([("well.png", img, lab)], 0.5)
    assert light[50, 5] / 65535 == pytest.approx(mid_before ** 0.5, abs=0.02)
    with pytest.raises(ValueError):
        toned_pairs([("well.png", img, lab)], 0)


def test_shaded_pairs_darken_away_from_an_off_centre_point_in_the_image_dtype():
    from ml.evaluate import shaded_pairs

    lab = _disc((200, 300), 150, 100, 20)
    flat = np.full((200, 300), 200, np.uint8)
    [(name, shaded, same)] = shaded_pairs([("well.png", flat, lab)], 0.3, seed=1)
    assert name == "well_v0.3.png" and shaded.dtype == np.uint8 and same is lab
    ys, xs = np.unravel_index(np.argmax(shaded), shaded.shape)
    assert 0.2 * 200 - 1 <= ys <= 0.8 * 200 + 1 and 0.2 * 300 - 1 <= xs <= 0.8 * 300 + 1  # the centre is inside
    assert shaded.max() == 200 and shaded.min() >= round(200 * (1 - 0.3 * 1.2 ** 2)) and shaded.min() < 170
    [(_, again, _)] = shaded_pairs([("well.png", flat, lab)], 0.3, seed=1)
    [(_, other, _)] = shaded_pairs([("well.png", flat, lab)], 0.3, seed=2)
    assert np.array_equal(shaded, again) and not np.array_equal(shaded, other)  # seeded
    rgb = np.dstack([flat.astype(np.uint16) * 100] * 3)
    [(_, shaded_rgb, _)] = shaded_pairs([("well.tif", rgb, lab)], 0.3, seed=1)
    assert shaded_rgb.dtype == np.uint16 and shaded_rgb.shape == rgb.shape
    assert np.array_equal(shaded_rgb[..., 0], shaded_rgb[..., 2])
    with pytest.raises(ValueError):
        shaded_pairs([("well.png", flat, lab)], 0.7)
