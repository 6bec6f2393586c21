import numpy as np

from ml import probe
from ml.evaluate import load_pairs


def test_probe_set_is_seeded_and_readable_by_evaluate(tmp_path):
    paths = probe.write_set(tmp_path, 3, 0, (300, 400))
    assert [p.name for p in paths] == ["probe_0.tif", "probe_1.png", "probe_2.png"]
    pairs = load_pairs(tmp_path / "images", tmp_path / "masks")
    assert len(pairs) == 3
    for _, img, lab in pairs:
        assert img.shape == (300, 400) and lab.shape == (300, 400)
        assert lab.max() >= 1 and np.count_nonzero(lab) >= 500
        assert img[lab == 0].mean() > img[lab > 0].mean()  # dark bodies on a light field
    tif = next(img for name, img, _ in pairs if name.endswith(".tif"))
    assert tif.dtype == np.uint16 and np.ptp(tif) < 4096  # 16-bit, a narrow band of its range
    a, la = probe.render(5, (200, 200))
    b, lb = probe.render(5, (200, 200))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, probe.render(6, (200, 200))[0])
    assert probe.main(["--out", str(tmp_path / "cli"), "--n", "1", "--seed", "4", "--size", "200x300"]) == 0
    assert load_pairs(tmp_path / "cli" / "images", tmp_path / "cli" / "masks")[0][1].shape == (200, 300)


def test_probe_radius_and_count_are_options_and_checked(tmp_path, capsys):
    import pytest

    _, lab = probe.render(3, (500, 500), radius=(150, 150), spheroids=1)
    assert lab.max() == 1
    area = np.count_nonzero(lab)
    assert 0.6 * np.pi * 75 ** 2 < area < 1.3 * np.pi * 75 ** 2  # radius 150 px at 1000 px -> 75 px here
    assert probe.main(["--out", str(tmp_path), "--n", "1", "--seed", "2", "--size", "400",
                       "--radius", "120,160", "--spheroids", "2"]) == 0
    lab = load_pairs(tmp_path / "images", tmp_path / "masks")[0][2]
    assert 1 <= lab.max() <= 2
    with pytest.raises(SystemExit):
        probe.main(["--out", str(tmp_path), "--radius", "200,100"])
    assert "expected 5 <= MIN <= MAX <= 450" in capsys.readouterr().err
    img, lab = probe.render(3, (400, 400), well=0.45)
    free = lab == 0
    corners = np.zeros_like(free)
    corners[:40, :40] = corners[:40, -40:] = corners[-40:, :40] = corners[-40:, -40:] = True
    assert np.median(img[corners & free]) < 0.6 * np.median(img[150:250, 150:250][free[150:250, 150:250]])
    assert np.array_equal(probe.render(3, (400, 400))[1], lab)  # the same scene, the well drawn over it
    with pytest.raises(SystemExit):
        probe.main(["--out", str(tmp_path), "--well", "2"])
    assert "argument --well: expected 0.3-1, got '2'" in capsys.readouterr().err


def test_probe_pale_middle_draws_dark_rims_round_paler_middles(tmp_path):
    """``--pale-middle``: the same scene, each spheroid darkest near its rim and paler in its
    middle (still darker than the field)."""
    import cv2

    img, lab = probe.render(4, (600, 600), pale_middle=True)
    plain, plain_lab = probe.render(4, (600, 600))
    assert np.array_equal(lab, plain_lab) and not np.array_equal(img, plain)
    field = float(np.median(img[lab == 0]))
    for k in range(1, int(lab.max()) + 1):
        body = (lab == k).astype(np.uint8)
        depth = cv2.distanceTransform(body, cv2.DIST_L2, 5)
        depth /= depth.max()
        rim, middle = img[(depth > 0.15) & (depth < 0.35)].mean(), img[depth > 0.8].mean()
        assert rim < middle < field
        assert np.median(plain[(lab == k) & (depth > 0.8)]) < np.median(plain[(lab == k) & (depth > 0.15) & (depth < 0.35)])
    assert probe.main(["--out", str(tmp_path), "--n", "1", "--seed", "4", "--size", "300", "--pale-middle"]) == 0
