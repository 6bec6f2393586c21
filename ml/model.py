"""Compact residual U-Net (about 1.07 M parameters) for spheroid segmentation.

Input: 1 x H x W normalised grey image in [0, 1] (H, W multiples of 16).
Output: 2 logits per pixel: channel 0 = spheroid body (foreground), channel 1 = contact band
between two touching spheroids (used to split them into separate objects).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_CHANNELS = (8, 24, 48, 96, 128)


class ResBlock(nn.Module):
    def __init__(self, ch: int, dilation: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation, bias=False)
        self.b1 = nn.BatchNorm2d(ch)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation, bias=False)
        self.b2 = nn.BatchNorm2d(ch)

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)), inplace=True)
        y = self.b2(self.c2(y))
        return F.relu(x + y, inplace=True)


def _cbr(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResUNet(nn.Module):
    def __init__(self, channels=DEFAULT_CHANNELS, in_ch: int = 1, out_ch: int = 2):
        super().__init__()
        c = list(channels)
        self.channels = tuple(c)
        self.stem = _cbr(in_ch, c[0])
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        for i, ch in enumerate(c):
            dil = 2 if i == len(c) - 1 else 1
            self.enc.append(ResBlock(ch, dil))
            if i < len(c) - 1:
                self.down.append(_cbr(ch, c[i + 1], stride=2))
        self.dec = nn.ModuleList()
        for i in range(len(c) - 1, 0, -1):
            self.dec.append(_cbr(c[i] + c[i - 1], c[i - 1]))
        self.head = nn.Conv2d(c[0], out_ch, 1)

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for i, blk in enumerate(self.enc):
            x = blk(x)
            if i < len(self.down):
                skips.append(x)
                x = self.down[i](x)
        for dec in self.dec:
            s = skips.pop()
            x = F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, s], 1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
