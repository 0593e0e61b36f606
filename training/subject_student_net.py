"""The subject student's network (PyTorch; training only -- smartframe runs the exported ONNX
with OpenCV's ``cv2.dnn`` and never imports torch).

Input: ``rgb``, float32 N x 3 x H x W in [0, 1] (H, W multiples of 16; the ImageNet
normalisation is inside the graph). Output: ``subject``, float32 N x 1 x H/4 x W/4 in [0, 1],
the probability that a pixel belongs to the salient subject, on the input's grid scaled by 1/4.

Two encoders, chosen by ``arch``:

* ``"ds"``: depthwise-separable blocks (a 3x3 depthwise + a 1x1 pointwise convolution, residual
  when the shapes allow), dilated at the deepest level;
* ``"conv"``: plain 3x3 convolutions at the same strides (fewer channels for about the same
  parameter count; PyTorch trains them faster on a CPU than depthwise ones).

Both: encoder to 1/16 of the input, an image-mean context branch at 1/16, and two decoder
stages with skip connections back to 1/4.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["SubjectStudent", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, dilation * (kernel // 2), dilation=dilation, groups=groups,
                  bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Separable(nn.Module):
    """Depthwise 3x3 (stride, dilation) + pointwise 1x1; residual when the shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.depthwise = conv_bn_relu(cin, cin, 3, stride, cin, dilation)
        self.pointwise = conv_bn_relu(cin, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.pointwise(self.depthwise(x))
        return x + y if self.residual else y


class Plain(nn.Module):
    """One 3x3 convolution (stride, dilation); residual when the shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = conv_bn_relu(cin, cout, 3, stride, 1, dilation)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.residual else y


class SubjectStudent(nn.Module):
    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 96, 128), arch: str = "ds"):
        super().__init__()
        block = {"ds": Separable, "conv": Plain}[arch]
        c1, c2, c3, c4 = widths
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.e1 = conv_bn_relu(3, c1, 3, 2)                                           # 1/2
        self.e2 = nn.Sequential(block(c1, c2, 2), block(c2, c2))                       # 1/4
        self.e3 = nn.Sequential(block(c2, c3, 2), block(c3, c3))                       # 1/8
        self.e4 = nn.Sequential(block(c3, c4, 2), block(c4, c4, dilation=2), block(c4, c4, dilation=4))  # 1/16
        self.context = nn.Sequential(nn.Conv2d(c4, c4, 1), nn.ReLU(inplace=True))
        self.skip3, self.up3 = conv_bn_relu(c3, c4, 1), block(c4, c3)
        self.skip2, self.up2 = conv_bn_relu(c2, c3, 1), block(c3, c2)
        self.head = nn.Conv2d(c2, 1, 3, 1, 1)

    def forward(self, x):
        x = (x - self.mean) / self.std
        f2 = self.e2(self.e1(x))
        f3 = self.e3(f2)
        f4 = self.e4(f3)
        # Global average pooling (not .mean over the axes): OpenCV 4.x's ONNX importer reads a
        # GlobalAveragePool with symbolic input sizes, but not a ReduceMean.
        f4 = f4 + self.context(F.adaptive_avg_pool2d(f4, 1))
        y = self.up3(self.skip3(f3) + F.interpolate(f4, scale_factor=2.0, mode="bilinear", align_corners=False))
        y = self.up2(self.skip2(f2) + F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False))
        return torch.sigmoid(self.head(y))
