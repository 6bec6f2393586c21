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
