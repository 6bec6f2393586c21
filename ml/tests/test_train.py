"""python -m ml.train writes a complete card (command, floor, sha); engine.use_card serves it."""

import hashlib
import json
import shutil

import numpy as np
import pytest

from ml import engine, train


@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(engine, "_cards", None)
    monkeypatch.setattr(engine, "_models", {})


def test_train_writes_full_card_and_use_card_serves_it(tmp_path, fresh_registry):
    argv = ["--steps", "2", "--pool", "6", "--val", "2", "--batch", "2", "--crop", "64",
            "--floor-images", "1", "--version", "0.0.1-test", "--out", str(tmp_path)]
    train.main(argv)
    card = json.loads((tmp_path / "spheroseg-unet.json").read_text())
    weights = tmp_path / card["weights"]
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card["training"]["command"] == "python -m ml.train " + " ".join(argv)
    assert card["training"]["init"] is None and card["training"]["run_time_s"] > 0
    assert "20001000" not in card["training"]["data"] and "20000000 + i" in card["training"]["data"]
    floor = card["postprocess"]["min_confidence"]
    assert floor in [float(f) for f in train.FLOOR_CANDIDATES]

    border = card["postprocess"]["border_min_solidity"]
    assert border is None or border in [float(f) for f in train.BORDER_FLOOR_CANDIDATES]
    assert "cut by the image border" in card["postprocess"]["border_chosen_on"]

    served = engine.use_card(tmp_path / "spheroseg-unet.json")
    assert served.version == "0.0.1-test" and served.min_confidence == floor
    assert served.border_min_solidity == border
    res = engine.segment(np.full((64, 64), 200, np.uint8))
    assert res.model_version == "0.0.1-test"
    # the shipped card is untouched
    assert json.loads((engine.WEIGHTS_DIR / "spheroseg-unet.json").read_text())["weights"] != card["weights"]


def test_use_card_rejects_a_non_unet_card(tmp_path, fresh_registry):
    p = tmp_path / "x.json"
    p.write_text('{"name": "x", "kind": "classical"}')
    with pytest.raises(engine.ModelLoadError, match="not a U-Net"):
        engine.use_card(p)
    with pytest.raises(engine.ModelLoadError, match="Cannot read"):
        engine.use_card(tmp_path / "missing.json")


def test_choose_floor_counts_and_never_lowers_ap50(fresh_registry):
    pairs = train.floor_pairs(2, seed=0, size=400)
    out = train.choose_floor("classical", pairs)
    assert out["images"] == 2
    assert out["min_confidence"] in [float(f) for f in train.FLOOR_CANDIDATES]
    assert 0 <= out["true_below"] <= out["true"] and 0 <= out["false_below"] <= out["false"]
    assert out["ap50_with"] >= out["ap50_without"]
    assert out["true"] + out["false"] > 0


def test_choose_border_floor_counts_and_never_lowers_ap50(fresh_registry):
    pairs = train.floor_pairs(2, seed=0, size=400)
    out = train.choose_border_floor("classical", pairs)
    assert out["images"] == 2
    assert out["border_min_solidity"] == 0.0 or out["border_min_solidity"] in [float(f) for f in train.BORDER_FLOOR_CANDIDATES]
    assert 0 <= out["true_below"] <= out["border_true"] and 0 <= out["false_below"] <= out["border_false"]
    assert out["ap50_with"] >= out["ap50_without"]


def test_recalibrate_sets_the_working_size_and_chooses_both_floors(tmp_path, fresh_registry):
    shutil.copy(engine.WEIGHTS_DIR / "spheroseg-unet.json", tmp_path / "spheroseg-unet.json")
    card = json.loads((tmp_path / "spheroseg-unet.json").read_text())
    card["training"]["border_floor_s"] = 24.5  # an earlier version's separate timing: both floors are one run now
    card["input"]["working_long_side_px"] = card["input"].pop("working_short_side_px")  # its name before 2026-11-30
    (tmp_path / "spheroseg-unet.json").write_text(json.dumps(card))
    assert engine.use_card(tmp_path / "spheroseg-unet.json").working_size == 480  # the old name still read
    shutil.copy(engine.WEIGHTS_DIR / card["weights"], tmp_path / card["weights"])
    argv = ["--recalibrate", str(tmp_path / "spheroseg-unet.json"), "--working-size", "256", "--floor-images", "2"]
    train.main(argv)
    written = json.loads((tmp_path / "spheroseg-unet.json").read_text())
    assert written["input"]["working_short_side_px"] == 256 and "working_long_side_px" not in written["input"]
    assert written["postprocess"]["min_confidence"] in [float(f) for f in train.FLOOR_CANDIDATES]
    assert "2 synthetic 1000x1000 validation images" in written["postprocess"]["chosen_on"]
    assert "2 synthetic 1000x1000 validation images" in written["postprocess"]["border_chosen_on"]
    assert written["training"]["recalibrated"] == "python -m ml.train " + " ".join(argv)
    assert written["sha256"] == card["sha256"] and written["training"]["floor_s"] >= 0
    assert "border_floor_s" not in written["training"]
    assert engine.use_card(tmp_path / "spheroseg-unet.json").working_size == 256


def test_a_floor_applied_to_the_object_table_is_the_floor_applied_by_the_engine(fresh_registry, monkeypatch):
    """calibrate() segments once and filters the table for the border floor: the same objects as
    segmenting again with the confidence floor in the card."""
    pairs = train.floor_pairs(2, seed=0, size=400)
    without = train._object_table("classical", pairs)
    confidences = np.concatenate([r["confidence"] for r in without])
    floor = float(np.median(confidences))
    cards = engine._read_cards()
    monkeypatch.setitem(cards, "classical", __import__("dataclasses").replace(cards["classical"], min_confidence=floor))
    served = train._object_table("classical", pairs)
    filtered = train._above(without, floor)
    assert 0 < sum(len(r["confidence"]) for r in served) < len(confidences)
    for a, b in zip(served, filtered, strict=True):
        assert a["refs"] == b["refs"]
        for key in ("true", "confidence", "solidity", "border", "compact"):
            assert np.array_equal(a[key], b[key])


def test_gamma_range_is_two_ordered_positive_powers():
    import argparse

    assert train.gamma_range("0.6,1.8") == (0.6, 1.8)
    for bad in ("2", "a,b", "1.5,0.7", "0,1", "0.5,1,2"):
        with pytest.raises(argparse.ArgumentTypeError):
            train.gamma_range(bad)
    with pytest.raises(SystemExit):  # refused before any image is generated
        train.main(["--gamma", "1.4", "--out", "/nonexistent/never-written"])


def test_fine_tuning_pool_keeps_the_served_scale_and_covers_a_wide_image():
    from ml.train import pairs_to_pool

    img = np.full((300, 600), 200, np.uint8)
    lab = np.zeros((300, 600), np.uint16)
    img[100:200, 450:550] = 40
    lab[100:200, 450:550] = 1
    X, Y = pairs_to_pool([(img, lab)], size=150)
    assert X.shape == Y.shape == (2, 150, 150)  # short side at 150 px: 150 x 300, two squares
    assert (Y[1] & 1).sum() == 50 * 50 and (Y[0] & 1).sum() == 0  # the object at half size, in the second
    X, Y = pairs_to_pool([(img[:60, :60], lab[:60, :60])], size=150)
    assert X.shape == (1, 150, 150) and not (Y & 1).any()  # enlarged 2 x at most, padded


def test_fine_tune_writes_a_card_the_engine_serves(tmp_path, monkeypatch):
    from ml.holdout import generate

    monkeypatch.setattr(engine, "_cards", None)  # this process's registry as shipped, afterwards too
    monkeypatch.setattr(engine, "_models", {})

    pairs = [generate(seed, (256, 320)) for seed in (11, 12)]
    card = engine.fine_tune(pairs, out_dir=tmp_path, epochs=1, batch=2, log=lambda _m: None)
    assert card.name == "spheroseg-unet-ft" and (tmp_path / card.weights).is_file()
    served = engine.use_card(tmp_path / "spheroseg-unet-ft.json")
    assert served.sha256 == card.sha256
    res = engine.segment(pairs[0][0], model=card.name)
    assert res.model_name == card.name and res.width == 320
    assert (tmp_path / "spheroseg-unet-ft.json").read_text().count('"base_model"') == 1
