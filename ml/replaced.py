"""A stand-in for the model Spheroseg replaces, for ``python -m ml.bench --reference`` only.

The replaced system ran a 132 M-parameter attention residual U-Net (about 530 MB of float32
weights, never published) on every image stretched to 1024 x 1024. This is that kind of network
at that size: six residual levels of 64-2048 channels (pre-activation blocks with a 1 x 1
shortcut), transposed-convolution upsampling, an attention gate on every skip connection
(Oktay et al. 2018) and a sigmoid head: 131,393,714 parameters. Its weights are random: only
its running time on this machine matters, so the speed target ("80 x faster than the model we
replace") can be checked as a ratio on whatever machine the benchmark runs on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (64, 128, 256, 512, 1024, 2048)
INPUT_SIZE = 1024


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                  nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class _AttentionGate(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        mid = ch // 2
        self.gating = nn.Sequential(nn.Conv2d(ch, mid, 1), nn.BatchNorm2d(mid))
        self.skip = nn.Sequential(nn.Conv2d(ch, mid, 1), nn.BatchNorm2d(mid))
        self.psi = nn.Sequential(nn.Conv2d(mid, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, g, x):
        return x * self.psi(F.relu(self.gating(g) + self.skip(x)))


class ReplacedModel(nn.Module):
    """Attention residual U-Net: 1 x H x W grey image (H, W multiples of 32) -> 1 x H x W probability."""

    def __init__(self, widths=WIDTHS):
        super().__init__()
        self.enc = nn.ModuleList(_ResBlock(1 if i == 0 else widths[i - 1], c) for i, c in enumerate(widths))
        self.up, self.gate, self.dec = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i in range(len(widths) - 1, 0, -1):
            self.up.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
            self.gate.append(_AttentionGate(widths[i - 1]))
            self.dec.append(_ResBlock(2 * widths[i - 1], widths[i - 1]))
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, gate, dec in zip(self.up, self.gate, self.dec, strict=True):
            skip = skips.pop()
            x = up(x)
            x = dec(torch.cat([x, gate(x, skip)], 1))
        return torch.sigmoid(self.head(x))
