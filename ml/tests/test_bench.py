import re

import numpy as np
import torch

from ml.bench import main
from ml.replaced import ReplacedModel


def test_the_replaced_models_stand_in_has_its_size_and_maps_an_image_to_a_probability():
    torch.manual_seed(0)
    model = ReplacedModel().eval()
    assert sum(p.numel() for p in model.parameters()) == 131_393_714  # "132 M parameters", 526 MB as float32
    with torch.inference_mode():
        y = model(torch.rand(1, 1, 64, 96))
    assert y.shape == (1, 1, 64, 96)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0 and np.isfinite(y.numpy()).all()


def test_bench_prints_the_median_and_the_speed_up_over_the_stand_in(capsys):
    rc = main(["--sizes", "1000", "--repeat", "1", "--reference", "--reference-repeat", "1",
               "--reference-size", "64"])
    assert rc == 0
    out = capsys.readouterr().out
    row = re.search(r"1000x1000\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+(\d+)\s+2\s", out)
    assert row and 0 < float(row.group(1)) < 60 and int(row.group(2)) > 0  # two spheroids found
    ref = re.search(r"stand-in \(131\.4 M parameters.*64 x 64 input.*median ([\d.]+) s", out)
    assert ref and float(ref.group(1)) > 0
    ratio = re.search(r"speed-up at 1000 x 1000 .*: (\d+) x \(target 80 x\)", out)
    assert ratio and abs(int(ratio.group(1)) - float(ref.group(1)) / float(row.group(1))) <= 1  # printed rounded
