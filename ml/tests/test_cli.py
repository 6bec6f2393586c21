import json

from ml.__main__ import main


def test_cli_writes_json_and_overlay_and_reports_unreadable(tmp_path, demo_dir, capsys):
    bad = tmp_path / "broken.png"
    bad.write_text("this is not an image")
    out = tmp_path / "out"
    rc = main(["segment", str(demo_dir / "spheroid_pair.png"), str(bad), "--out", str(out),
               "--pixel-size", "2", "--quiet"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "not an image" in err
    doc = json.loads((out / "spheroid_pair.json").read_text())
    assert doc["image"] == "spheroid_pair.png" and doc["width"] == 1000 and doc["height"] == 1000
    assert set(doc["model"]) == {"name", "version"}
    assert len(doc["polygons"]) == 2
    p = doc["polygons"][0]
    assert {"exterior", "holes", "confidence", "metrics"} <= set(p)
    assert p["metrics"]["perimeter_um"] == p["metrics"]["perimeter_px"] * 2 or abs(
        p["metrics"]["perimeter_um"] - 2 * p["metrics"]["perimeter_px"]) < 1e-3
    assert (out / "spheroid_pair.overlay.png").stat().st_size > 1000
    assert not (out / "broken.json").exists()


def test_cli_reports_an_image_too_thin_to_segment_and_goes_on(tmp_path, demo_dir, capsys):
    import numpy as np
    from PIL import Image

    line = tmp_path / "line.png"
    Image.fromarray(np.zeros((1, 700), np.uint8)).save(line)
    out = tmp_path / "out"
    rc = main(["segment", str(line), str(demo_dir / "spheroid_single.png"), "--out", str(out), "--quiet"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "line.png" in err and "700 x 1 px: too thin to segment" in err and "Traceback" not in err
    assert not (out / "line.json").exists()
    assert len(json.loads((out / "spheroid_single.json").read_text())["polygons"]) == 1


def test_cli_ok_exit_zero(tmp_path, demo_dir):
    rc = main(["segment", str(demo_dir / "spheroid_single.png"), "--out", str(tmp_path), "--quiet",
               "--model", "classical"])
    assert rc == 0 and (tmp_path / "spheroid_single.json").exists()
