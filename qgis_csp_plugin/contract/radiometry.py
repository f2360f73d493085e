"""Radiometric matching of a layer to a model's training statistics (pure numpy; the plugin and the
trainer's evaluations apply the same code).

Each band is mapped affinely: ``layer_statistics`` so that the layer's own mean/std equal the
training mean/std, ``(x - layer_mean) / layer_std * train_std + train_mean``; ``layer_percentiles``
so that the layer's low/high percentiles (e.g. 2nd and 98th) equal the training ones, which nodata
fill values and outliers barely move; ``reflectance`` by the declared rules of :func:`reflectance_rule`.
``absolute`` models get raw values.

:func:`layer_radiometry` is the entry point: the transform Classify applies to a layer, from the valid
pixel values it samples from the layer (one block of about :data:`STATISTICS_SAMPLE` pixels, resampled over
the processing extent to :func:`sample_shape`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import GeoSslError

#: pixels Classify samples from a layer (one resampled block over the processing extent) for its statistics
STATISTICS_SAMPLE = 250_000


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
        raise GeoSslError("layer and training statistics must have one value per model band")
    if not np.all(np.isfinite(layer_mean)) or not np.all(np.isfinite(layer_std)):
        raise GeoSslError("the layer's band statistics are not finite (is the extent all nodata?)")
    flat = layer_std <= 0
    if flat.any():
        raise GeoSslError(f"layer band(s) {', '.join(str(i + 1) for i in np.flatnonzero(flat))} are constant "
                          "(std 0): cannot match them to the training statistics")
    scale = train_std / layer_std
    return BandTransform((scale).astype(np.float32), (train_mean - layer_mean * scale).astype(np.float32))


def match_percentiles(layer_low, layer_high, train_low, train_high) -> BandTransform:
    """Transform that maps the layer's low/high band percentiles onto the training ones."""
    layer_low, layer_high, train_low, train_high = (
        np.asarray(v, dtype=np.float64) for v in (layer_low, layer_high, train_low, train_high))
    if not (layer_low.shape == layer_high.shape == train_low.shape == train_high.shape):
        raise GeoSslError("layer and training percentiles must have one value per model band")
    if not np.all(np.isfinite(layer_low)) or not np.all(np.isfinite(layer_high)):
        raise GeoSslError("the layer's band percentiles are not finite (is the extent all nodata?)")
    flat = layer_high <= layer_low
    if flat.any():
        raise GeoSslError(f"layer band(s) {', '.join(str(i + 1) for i in np.flatnonzero(flat))} have equal low and "
                          "high percentiles: cannot match them to the training percentiles")
    scale = (train_high - train_low) / (layer_high - layer_low)
    return BandTransform(scale.astype(np.float32), (train_low - layer_low * scale).astype(np.float32))


def band_percentiles(pixels: np.ndarray, q: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Low and high percentiles ``q`` per band of ``(C, N)`` valid pixel values."""
    if pixels.shape[1] == 0:
        raise GeoSslError("the extent holds no valid pixel to compute band percentiles from")
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


#: Landsat Collection 2 Level-2 surface reflectance products (file names ``…_L2SP_…``, bands ``SR_B4``).
LANDSAT_C2_L2 = re.compile(r"_L2S[PR]_|(^|[^a-z])SR_B\d", re.IGNORECASE)
#: Landsat 8/9 OLI Level-1 products (``LC08_L1TP_…``): digital numbers.
LANDSAT_OLI_L1 = re.compile(r"^L[CO]0[89]_L1", re.IGNORECASE)
#: Float layers whose 99th percentile is at most this are read as reflectance in 0..1.
UNIT_REFLECTANCE_MAX = 1.5
#: A layer FAR_SCALE times darker than the training data whose brightest band still reaches this fraction of
#: its training mean at its 99th percentile is dark land cover (water, shadow) on the training scale, not values
#: on another scale: on the 469 EuroSAT Sentinel-2 patches (Galileo's training means) the fraction is >= 0.52,
#: also for the 22 all-water patches the summed test alone calls far; the same patches divided by 10 (reflectance
#: x 1000) stay below 0.4 but for 2.
DARK_SCENE_BRIGHTEST = 0.4


@dataclass(frozen=True)
class Radiometry:
    """How a layer's values are mapped before they enter a model."""

    transform: BandTransform | None  # None: the values are fed as they are
    note: str | None = None  # which rule was chosen (``reflectance`` models)
    warning: str | None = None


def sample_shape(width: float, height: float, pixels: int = STATISTICS_SAMPLE) -> tuple[int, int]:
    """(columns, rows) of the block of about ``pixels`` pixels that samples an extent ``width`` x ``height``
    (its longer side gets sqrt(pixels) columns or rows)."""
    side = int(pixels ** 0.5)
    return (max(1, round(side * min(1.0, width / height))), max(1, round(side * min(1.0, height / width))))


def layer_radiometry(values: np.ndarray, norm, used: np.ndarray | None = None, data_kind: str = "float",
                     name: str = "", labels: list[str] | tuple[str, ...] = ()) -> Radiometry:
    """The mapping of a layer onto the training radiometry of a model with normalization ``norm``
    (:class:`~.schema.Normalization`), from ``values``: ``(C, N)`` valid pixel values sampled from the layer,
    in model band order. ``absolute`` models get no mapping, but a warning when the values are on another
    scale than in training. ``used``, ``data_kind`` (``byte``, ``int`` or ``float``), ``name`` (the file
    name) and ``labels`` (band labels) matter only for ``reflectance`` models (:func:`reflectance_rule`);
    ``used`` defaults to every band."""
    if norm.radiometry == "reflectance":
        used = np.ones(len(values), bool) if used is None else used
        return reflectance_rule(values, used, norm, data_kind, name, list(labels))
    mean, std = values.mean(axis=1), values.std(axis=1)
    if norm.radiometry == "layer_statistics":
        return Radiometry(match_statistics(mean, std, norm.mean, norm.std))
    if norm.radiometry == "layer_percentiles":
        percentiles = norm.percentiles
        low, high = band_percentiles(values, tuple(percentiles["q"]))
        return Radiometry(match_percentiles(low, high, percentiles["low"], percentiles["high"]))
    return Radiometry(None, warning=statistics_warning(mean, std, norm.mean, norm.std))


def reflectance_rule(values: np.ndarray, used: np.ndarray, norm, data_kind: str, name: str,
                     labels: list[str]) -> Radiometry:
    """The declared rule for a layer, in this order:

    1. Landsat Collection 2 Level-2 (``_L2SP_`` in the name, ``SR_B…`` bands): ρ = 0.0000275·DN − 0.2 (USGS);
    2. Landsat 8/9 OLI Level-1 (``LC08_L1…``): ρ = 0.00002·DN − 0.1 (USGS default REFLECTANCE_MULT/ADD),
       not corrected for the sun elevation;
    3. float values whose 99th percentile is <= 1.5: reflectance in 0..1;
    4. 8-bit values, or values far from the training scale (:func:`statistics_warning`; not a dark scene
       such as open water, whose brightest band still reaches :data:`DARK_SCENE_BRIGHTEST` of its training
       mean): each band's mean/std matched to the encoder's training statistics (``normalization.mean/std``),
       with a warning;
    5. else the values are reflectance × ``reflectance_scale`` already (Sentinel-2 digital numbers).

    ``values``: ``(C, N)`` sampled pixels in model band order; ``used``: ``(C,)`` bands the model reads
    (the others stay 0); ``data_kind``: ``byte``, ``int`` or ``float``.
    """
    scale = float(norm.reflectance_scale)
    used = np.asarray(used, bool)
    text = " ".join([name, *labels])

    def affine(gain: float, offset: float) -> BandTransform:
        return BandTransform(np.where(used, gain * scale, 0).astype(np.float32),
                             np.where(used, offset * scale, 0).astype(np.float32))

    if LANDSAT_C2_L2.search(text):
        return Radiometry(affine(2.75e-5, -0.2), "Landsat Collection 2 Level-2 surface reflectance: "
                               "reflectance = 0.0000275 x DN - 0.2 (USGS scale factors)")
    if LANDSAT_OLI_L1.search(name):
        return Radiometry(affine(2e-5, -0.1), "Landsat 8/9 OLI Level-1 digital numbers: reflectance = "
                               "0.00002 x DN - 0.1 (USGS default REFLECTANCE_MULT/ADD), not corrected for the sun "
                               "elevation (reflectance is underestimated by sin(sun elevation))")
    sample = values[used]
    if data_kind == "float" and sample.size and np.percentile(sample, 99) <= UNIT_REFLECTANCE_MAX:
        return Radiometry(affine(1.0, 0.0), f"float values in 0..1 read as reflectance (x {scale:g})")
    mean, std = values.mean(axis=1), values.std(axis=1)
    train_mean, train_std = np.asarray(norm.mean, np.float64), np.asarray(norm.std, np.float64)
    far = statistics_warning(mean[used], std[used], train_mean[used], train_std[used])
    if far and mean[used].sum() < train_mean[used].sum() and sample.size and \
            (np.percentile(sample, 99, axis=1) / train_mean[used]).max() >= DARK_SCENE_BRIGHTEST:
        far = None  # a dark scene on the training scale
    if data_kind == "byte" or far:
        matched = match_statistics(mean[used], std[used], train_mean[used], train_std[used])
        transform = BandTransform(np.zeros(len(used), np.float32), np.zeros(len(used), np.float32))
        transform.scale[used], transform.offset[used] = matched.scale, matched.offset
        why = "8-bit values have no reflectance scale" if data_kind == "byte" else "the values are far from " \
              "reflectance x 10000"
        return Radiometry(transform, "each band's mean/std matched to the encoder's training statistics",
                               f"{why}: each band's mean and std were matched to the encoder's training statistics "
                               "(Sentinel-2 L1C worldwide), which removes the layer's own brightness and contrast; "
                               "if the layer is reflectance, scale it to reflectance x 10000")
    return Radiometry(None, f"values read as reflectance x {scale:g} (Sentinel-2 digital numbers)")
