"""Batched on-device augmentations (kornia + per-band ops) for any number of bands.

Inputs are *normalised* images ``(x - mean) / std``; colour operations therefore work per band in
standard-deviation units, which is what "brightness/contrast" means for multispectral data:

* brightness: add ``U(-b, b)`` to each band; contrast: scale each band about its image mean by
  ``U(1 - c, 1 + c)``; grayscale: every band becomes the mean over bands. (Saturation and hue are
  RGB-only notions and are not applied.)
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn


def standardise(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Raw ``(N, C, H, W)`` pixels → ``(x - mean) / std`` with per-band ``(C,)`` statistics."""
    return (image - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def _chosen(x: torch.Tensor, p: float) -> torch.Tensor:
    """(N, 1, 1, 1) mask: which samples an op with probability ``p`` applies to."""
    return (torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p).to(x.dtype)


class BandJitter(nn.Module):
    """Per-sample, per-band brightness offset and contrast factor, with probability ``p``."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, p: float = 0.8) -> None:
        super().__init__()
        self.brightness, self.contrast, self.p = brightness, contrast, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        shift = (torch.rand(n, c, 1, 1, device=x.device) * 2 - 1) * self.brightness
        scale = 1 + (torch.rand(n, c, 1, 1, device=x.device) * 2 - 1) * self.contrast
        mean = x.mean(dim=(2, 3), keepdim=True)
        jittered = (x - mean) * scale + mean + shift
        mask = _chosen(x, self.p)
        return mask * jittered + (1 - mask) * x


class BandGrayscale(nn.Module):
    """With probability ``p`` every band is replaced by the mean over bands."""

    def __init__(self, p: float = 0.2) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = _chosen(x, self.p)
        return mask * x.mean(dim=1, keepdim=True).expand_as(x) + (1 - mask) * x


class Restandardise(nn.Module):
    """With probability ``p`` standardise each band by the image's own statistics.

    Teaches a classifier to rely on relative, not absolute, band values: the gap between sensors
    (Sentinel-2 vs Landsat or 8-bit RGB) is mostly a per-band gain and offset.
    """

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        mask = _chosen(x, self.p)
        return mask * (x - mean) / std + (1 - mask) * x


class GsdRescale(nn.Module):
    """With probability ``p`` per image, a coarser sensor resampled back to the model's grid.

    A chosen image is area-averaged down by a factor ``f ~ U(1, max_factor)`` (e.g. 3 = 30 m pixels
    for a 10 m model) and brought back to its size by nearest-neighbour (what QGIS's data provider
    does when Classify reads a coarser layer at the model's resolution) or bilinear interpolation.
    """

    def __init__(self, max_factor: float, p: float = 0.5) -> None:
        super().__init__()
        if max_factor < 1:
            raise ValueError(f"GSD rescale factor {max_factor} must be >= 1")
        self.max_factor, self.p = max_factor, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        out = x.clone()
        chosen = torch.nonzero(torch.rand(x.shape[0]) < self.p).flatten().tolist()
        for i in chosen:
            factor = 1 + float(torch.rand(())) * (self.max_factor - 1)
            small = (max(1, round(height / factor)), max(1, round(width / factor)))
            coarse = F.interpolate(x[i:i + 1], size=small, mode="area")
            if float(torch.rand(())) < 0.5:
                out[i] = F.interpolate(coarse, size=(height, width), mode="nearest")[0]
            else:
                out[i] = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
        return out


def _blur_kernel(size: int) -> int:
    return max(3, int(0.1 * size) // 2 * 2 + 1)


def moco_v2_augment(size: int) -> nn.Sequential:
    """MoCo-v2: resized crop 0.2–1, jitter 0.4 (p 0.8), grayscale (p 0.2), blur (p 0.5), h-flip."""
    return nn.Sequential(
        K.RandomResizedCrop((size, size), scale=(0.2, 1.0)),
        BandJitter(0.4, 0.4, p=0.8),
        BandGrayscale(p=0.2),
        K.RandomGaussianBlur((_blur_kernel(size),) * 2, sigma=(0.1, 2.0), p=0.5),
        K.RandomHorizontalFlip(),
    )


def classifier_augment(size: int, radiometric: bool, gsd_factor: float = 1.0) -> nn.Sequential:
    """Supervised training: flips, 90° rotations, mild crops; ``radiometric`` adds sensor robustness.

    The radiometric set (per-band gain/offset jitter, image re-standardisation, blur for coarser
    sensors resampled to 10 m) is for RGB models applied to Landsat or 8-bit imagery.
    ``gsd_factor`` > 1 adds :class:`GsdRescale` up to that factor (half of the images).
    """
    ops: list[nn.Module] = [
        K.RandomResizedCrop((size, size), scale=(0.6, 1.0)),
        K.RandomHorizontalFlip(), K.RandomVerticalFlip(), K.RandomRotation90(times=(0, 3)),
    ]
    if gsd_factor > 1:
        ops.append(GsdRescale(gsd_factor, p=0.5))
    if radiometric:
        ops += [BandJitter(0.5, 0.4, p=0.8), Restandardise(p=0.3),
                K.RandomGaussianBlur((_blur_kernel(size),) * 2, sigma=(0.1, 1.5), p=0.4)]
    return nn.Sequential(*ops)
