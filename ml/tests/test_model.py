"""The U-Net's inference form computes the same function as the trained one."""

import numpy as np
import torch

from ml import engine
from ml.model import ResUNet


def _with_running_statistics(model: ResUNet) -> ResUNet:
    """A randomly initialised network whose batch norms have non-trivial eval statistics."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                mod.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                mod.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model.eval()


def test_fused_inference_form_matches_the_trained_network():
    torch.manual_seed(0)
    model = _with_running_statistics(ResUNet())
    x = torch.rand(2, 1, 96, 128)
    with torch.inference_mode():
        expected = model(x)
    fused = model.fuse_for_inference()
    assert fused.dec is None and not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    with torch.inference_mode():
        got = fused(x)
    assert got.shape == expected.shape == (2, 2, 96, 128)
    assert float((got - expected).abs().max()) < 1e-4


def test_the_engine_serves_the_shipped_weights_in_inference_form():
    card = engine.get_model_card("spheroseg-unet")
    served = engine._load_unet(card)
    trained = engine._unet_from_card(card)  # what fine-tuning starts from: batch norms kept
    assert served.split_dec is not None and trained.split_dec is None
    x = torch.rand(1, 1, 64, 64)
    with torch.inference_mode():
        a = torch.sigmoid(served(x.contiguous(memory_format=torch.channels_last))).numpy()
        b = torch.sigmoid(trained(x)).numpy()
    assert np.abs(a - b).max() < 1e-4
