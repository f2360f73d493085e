"""Radiometric matching of a layer to a model's training statistics.

Each band is mapped affinely: ``layer_statistics`` so that the layer's own mean/std equal the
training mean/std, ``(x - layer_mean) / layer_std * train_std + train_mean``; ``layer_percentiles``
so that the layer's low/high percentiles (e.g. 2nd and 98th) equal the training ones, which nodata
fill values and outliers barely move. ``absolute`` models get raw values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.errors import CspError


@dataclass(frozen=True)
class BandTransform:
    """Per-band ``x * scale + offset`` applied to ``(..., C, H, W)`` pixel arrays."""

    scale: np.ndarray
    offset: np.ndarray

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        shape = (-1, 1, 1)
        pixels *= self.scale.reshape(shape)
        pixels += self.offset.reshape(shape)
        return pixels


def match_statistics(layer_mean, layer_std, train_mean, train_std) -> BandTransform:
    """Transform that gives the layer's bands the training data's mean and std."""
    layer_mean, layer_std, train_mean, train_std = (
        np.asarray(v, dtype=np.float64) for v in (layer_mean, layer_std, train_mean, train_std))
    if not (layer_mean.shape == layer_std.shape == train_mean.shape == train_std.shape):
        raise CspError("layer and training statistics must have one value per model band")
    if not np.all(np.isfinite(layer_mean)) or not np.all(np.isfinite(layer_std)):
        raise CspError("the layer's band statistics are not finite (is the extent all nodata?)")
    flat = layer_std <= 0
    if flat.any():
        raise CspError(f"layer band(s) {', '.join(str(i + 1) for i in np.flatnonzero(flat))} are constant "
                       "(std 0): cannot match them to the training statistics")
    scale = train_std / layer_std
    return BandTransform((scale).astype(np.float32), (train_mean - layer_mean * scale).astype(np.float32))


def match_percentiles(layer_low, layer_high, train_low, train_high) -> BandTransform:
    """Transform that maps the layer's low/high band percentiles onto the training ones."""
    layer_low, layer_high, train_low, train_high = (
        np.asarray(v, dtype=np.float64) for v in (layer_low, layer_high, train_low, train_high))
    if not (layer_low.shape == layer_high.shape == train_low.shape == train_high.shape):
        raise CspError("layer and training percentiles must have one value per model band")
    if not np.all(np.isfinite(layer_low)) or not np.all(np.isfinite(layer_high)):
        raise CspError("the layer's band percentiles are not finite (is the extent all nodata?)")
    flat = layer_high <= layer_low
    if flat.any():
        raise CspError(f"layer band(s) {', '.join(str(i + 1) for i in np.flatnonzero(flat))} have equal low and "
                       "high percentiles: cannot match them to the training percentiles")
    scale = (train_high - train_low) / (layer_high - layer_low)
    return BandTransform(scale.astype(np.float32), (train_low - layer_low * scale).astype(np.float32))


def band_percentiles(pixels: np.ndarray, q: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Low and high percentiles ``q`` per band of ``(C, N)`` valid pixel values."""
    if pixels.shape[1] == 0:
        raise CspError("the extent holds no valid pixel to compute band percentiles from")
    low, high = np.percentile(pixels.astype(np.float64), list(q), axis=1)
    return low, high


FAR_SCALE = 8.0  # typical values (|mean| + std, summed over bands) 8x larger or smaller than in training


def statistics_warning(layer_mean, layer_std, train_mean, train_std) -> str | None:
    """A sentence when the layer's values are on another scale than the training data's (``absolute``
    models: e.g. 8-bit display images given to a model trained on 16-bit reflectances). Land cover
    (water, snow) shifts the summed typical values by less than the 8x this needs (no warning on any
    of the 200 EuroSAT patches shipped in data/, water included)."""
    layer_mean, layer_std, train_mean, train_std = (
        np.asarray(v, dtype=np.float64) for v in (layer_mean, layer_std, train_mean, train_std))
    if not (np.all(np.isfinite(layer_mean)) and np.all(np.isfinite(layer_std))):
        return None
    scale = (np.abs(layer_mean) + layer_std).sum() / max(float((np.abs(train_mean) + train_std).sum()), 1e-12)
    if 1 / FAR_SCALE <= scale <= FAR_SCALE:
        return None
    return (f"the layer's pixel values (band means {_values(layer_mean)}, stds {_values(layer_std)}) are far from "
            f"the model's training data (means {_values(train_mean)}, stds {_values(train_std)}): the model "
            "expects absolute values such as reflectances scaled as in training, so results will likely be "
            "wrong (e.g. one class everywhere); check the band mapping and the layer's units, or use a model "
            "with layer_statistics radiometry")


def _values(values: np.ndarray, shown: int = 4) -> str:
    text = ", ".join(f"{v:.4g}" for v in values[:shown])
    return f"{text}, ..." if len(values) > shown else text
