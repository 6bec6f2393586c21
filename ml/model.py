"""Compact residual U-Net (953,818 parameters with the default widths) for spheroid segmentation.

Input: 1 x H x W normalised grey image in [0, 1] (H, W multiples of 16).
Output: 2 logits per pixel: channel 0 = spheroid body (foreground), channel 1 = contact band
between two touching spheroids (used to split them into separate objects).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

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
        self.split_dec: nn.ModuleList | None = None  # set by fuse_for_inference

    @torch.no_grad()
    def fuse_for_inference(self) -> ResUNet:
        """Fold every batch norm into its convolution (eval statistics) and split each decoder
        convolution into one on the upsampled path and one on the skip connection, summed, so
        that no concatenated copy is made: the same function, fewer passes over memory. For
        inference only (the module can no longer be trained or saved as a checkpoint)."""
        self.eval()
        for mod in self.modules():
            if isinstance(mod, nn.Sequential) and isinstance(mod[0], nn.Conv2d) and isinstance(mod[1], nn.BatchNorm2d):
                mod[0], mod[1] = fuse_conv_bn_eval(mod[0], mod[1]), nn.Identity()
            elif isinstance(mod, ResBlock):
                mod.c1, mod.b1 = fuse_conv_bn_eval(mod.c1, mod.b1), nn.Identity()
                mod.c2, mod.b2 = fuse_conv_bn_eval(mod.c2, mod.b2), nn.Identity()
        c = self.channels
        split = nn.ModuleList()
        for dec, up_ch in zip(self.dec, c[:0:-1], strict=True):
            conv = dec[0]
            up = nn.Conv2d(up_ch, conv.out_channels, 3, padding=1, bias=True)
            skip = nn.Conv2d(conv.in_channels - up_ch, conv.out_channels, 3, padding=1, bias=False)
            up.weight.copy_(conv.weight[:, :up_ch])
            up.bias.copy_(conv.bias)
            skip.weight.copy_(conv.weight[:, up_ch:])
            split.append(nn.ModuleList([up, skip]))
        self.split_dec = split.to(self.head.weight.device)
        self.dec = None
        return self

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for i, blk in enumerate(self.enc):
            x = blk(x)
            if i < len(self.down):
                skips.append(x)
                x = self.down[i](x)
        for i in range(len(self.channels) - 1):
            s = skips.pop()
            x = F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False)
            if self.split_dec is not None:
                up, skip = self.split_dec[i]
                x = F.relu(up(x) + skip(s), inplace=True)
            else:
                x = self.dec[i](torch.cat([x, s], 1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
