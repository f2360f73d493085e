"""Image models run on labelled patches as the plugin's Classify runs them on a layer.

Each patch is a layer of its own: Classify samples the layer for its statistics (one block of
:func:`~qgis_csp_plugin.contract.radiometry.sample_shape` pixels, read by nearest neighbour over the
extent; nodata and non-finite pixels left out), maps it onto the model's training radiometry with
:func:`~qgis_csp_plugin.contract.radiometry.layer_radiometry` (``layer_percentiles``, ``layer_statistics``,
``reflectance`` rules; ``absolute`` models get the values as they are) and feeds the transformed tile to
the model, with the extra inputs Classify feeds: the bands a classifier was trained with masked
(``spectral.masked_bands``, e.g. a head on Galileo or Presto) read as 0 and flagged in ``band_mask``, the
month of a layer without a date (July: EuroSAT patches carry none), the (lat, lon) of each patch.
:func:`run_as_classify` does the same with the contract's own code, so an evaluation measures the pipeline
users run (tests check it against Classify's probabilities and classes on the same patches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.radiometry import Radiometry, layer_radiometry, sample_shape
from qgis_csp_plugin.contract.schema import BAND_MASK_INPUT, DEFAULT_MONTH, LATLON_INPUT, MONTH_INPUT, ModelMetadata
from trainer.data.tiles import crop_dataset


@dataclass(frozen=True)
class LayerFacts:
    """What Classify's radiometry reads from a layer besides its pixels."""

    data_kind: str  # byte, int or float (band 1's data type)
    name: str  # the file name
    labels: tuple[str, ...]  # band descriptions
    nodata: tuple[float | None, ...]  # per model band


def layer_facts(path: str | Path, band_indices: list[int] | tuple[int, ...]) -> LayerFacts:
    """The :class:`LayerFacts` of one file whose model bands are at (0-based) ``band_indices``."""
    with rasterio.open(path) as dataset:
        dtype = np.dtype(dataset.dtypes[0])
        kind = "byte" if dtype.itemsize == 1 and dtype.kind in "iu" else "float" if dtype.kind == "f" else "int"
        nodata = tuple(dataset.nodatavals[i] for i in band_indices)
        return LayerFacts(kind, Path(path).name, tuple(d or "" for d in dataset.descriptions), nodata)


def nearest_sample(pixels: np.ndarray) -> np.ndarray:
    """The ``(C, h, w)`` block Classify samples from a ``(C, H, W)`` layer of square pixels:
    :func:`~qgis_csp_plugin.contract.radiometry.sample_shape` of the extent, read by nearest neighbour
    (GDAL's pixel-centre rule, which QGIS's provider uses)."""
    height, width = pixels.shape[1:]
    columns, rows = sample_shape(float(width), float(height))
    row = np.floor((np.arange(rows) + 0.5) * height / rows).astype(np.int64)
    column = np.floor((np.arange(columns) + 0.5) * width / columns).astype(np.int64)
    return pixels[:, row][:, :, column]


def band_mask(meta: ModelMetadata) -> np.ndarray | None:
    """1 for each band the model was trained with masked (Classify masks it again), 0 for the others; None for a
    model without a ``band_mask`` input."""
    if BAND_MASK_INPUT not in meta.input_names:
        return None
    masked = meta.spectral.masked_bands if meta.spectral is not None else []
    return np.array([band in masked for band in meta.bands], np.float32)


def patch_radiometry(pixels: np.ndarray, model: OnnxModel, facts: LayerFacts,
                     used: np.ndarray | None = None) -> Radiometry:
    """The radiometry Classify chooses for a layer holding just the ``(C, H, W)`` pixels ``pixels`` (``used``:
    the bands read, the others masked)."""
    sample = nearest_sample(pixels)
    valid = np.isfinite(sample).all(axis=0)
    for band, nodata in zip(sample, facts.nodata, strict=True):
        if nodata is not None:
            valid &= band != nodata
    return layer_radiometry(sample[:, valid], model.metadata.normalization, used, facts.data_kind, facts.name,
                            facts.labels)


def run_as_classify(model: OnnxModel, pixels: np.ndarray, layers: list[LayerFacts], batch: int = 64,
                    latlon: np.ndarray | None = None) -> np.ndarray:
    """The model's outputs for ``(N, C, H, W)`` raw tiles, each the whole of its layer ``layers[i]``, after the
    radiometry Classify applies to that layer, with the band mask and month Classify feeds; ``latlon``
    ``(N, 2)``: each tile's (lat, lon), needed by models with a ``latlon`` input."""
    meta = model.metadata
    if LATLON_INPUT in meta.input_names and latlon is None:
        raise ValueError(f"{meta.name} needs the (lat, lon) of each patch")
    images = np.array(pixels, dtype=np.float32, copy=True)
    mask = band_mask(meta)
    used = None if mask is None else mask == 0
    if mask is not None:
        images[:, ~used] = 0  # masked bands read as 0, as Classify's ModelBandReader gives them
    for image, facts in zip(images, layers, strict=True):
        transform = patch_radiometry(image, model, facts, used).transform
        if transform is not None:
            transform.apply(image)
    months = np.full(len(images), DEFAULT_MONTH, np.int64) if MONTH_INPUT in meta.input_names else None
    outputs = []
    for start in range(0, len(images), batch):
        rows = slice(start, start + batch)
        outputs.append(model.run(image=images[rows], band_mask=mask,
                                 latlon=None if latlon is None else np.asarray(latlon, np.float32)[rows],
                                 month=None if months is None else months[rows]))
    return np.concatenate(outputs)


@dataclass
class Patches:
    """One tile per record (raw float32 ``(N, C, T, T)``, model bands) and its layer's facts."""

    pixels: np.ndarray
    layers: list[LayerFacts]


def read_patches(model: OnnxModel, records: pd.DataFrame) -> Patches:
    """The model's tile of each record (bands by name, one seeded crop: whole EuroSAT patches) and the facts
    of its file."""
    meta = model.metadata
    dataset = crop_dataset(records, list(meta.bands), int(meta.tile_size))
    pixels = np.stack([dataset.read(i).numpy() for i in range(len(dataset))])
    layers = [layer_facts(dataset.path(i), dataset.band_sets[dataset.band_set[i]]) for i in range(len(dataset))]
    return Patches(pixels, layers)
