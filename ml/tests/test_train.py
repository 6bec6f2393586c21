"""python -m ml.train writes a complete card (command, floor, sha); engine.use_card serves it."""

import hashlib
import json

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

    served = engine.use_card(tmp_path / "spheroseg-unet.json")
    assert served.version == "0.0.1-test" and served.min_confidence == floor
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
