"""Image models run on labelled patches as the plugin's Classify runs them on a layer.

Each patch is a layer of its own: Classify samples the layer for its statistics (one block of
:func:`~qgis_csp_plugin.contract.radiometry.sample_shape` pixels, read by nearest neighbour over the
extent; nodata and non-finite pixels left out), maps it onto the model's training radiometry with
:func:`~qgis_csp_plugin.contract.radiometry.layer_radiometry` (``layer_percentiles``, ``layer_statistics``,
``reflectance`` rules; ``absolute`` models get the values as they are) and feeds the transformed tile to
the model. :func:`run_as_classify` does the same with the contract's own code, so an evaluation measures
the pipeline users run (a test checks the probabilities against Classify's on the same patches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.radiometry import Radiometry, layer_radiometry, sample_shape
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


def patch_radiometry(pixels: np.ndarray, model: OnnxModel, facts: LayerFacts) -> Radiometry:
    """The radiometry Classify chooses for a layer holding just the ``(C, H, W)`` pixels ``pixels``."""
    sample = nearest_sample(pixels)
    valid = np.isfinite(sample).all(axis=0)
    for band, nodata in zip(sample, facts.nodata, strict=True):
        if nodata is not None:
            valid &= band != nodata
    return layer_radiometry(sample[:, valid], model.metadata.normalization, None, facts.data_kind, facts.name,
                            facts.labels)


def run_as_classify(model: OnnxModel, pixels: np.ndarray, layers: list[LayerFacts], batch: int = 64) -> np.ndarray:
    """The model's outputs for ``(N, C, H, W)`` raw tiles, each the whole of its layer ``layers[i]``,
    after the radiometry Classify applies to that layer."""
    images = np.array(pixels, dtype=np.float32, copy=True)
    for image, facts in zip(images, layers, strict=True):
        transform = patch_radiometry(image, model, facts).transform
        if transform is not None:
            transform.apply(image)
    return np.concatenate([model.run(image=images[i:i + batch]) for i in range(0, len(images), batch)])


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
