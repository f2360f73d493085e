"""Location heatmaps streamed to GeoTIFF: the embedding map (PCA → RGB) and the class-prior map.

Every cell centre of a :class:`~.grid.CellGrid` goes through a :data:`~.cell_latlon.ToLatLon`
(cells without a place on Earth become nodata), then through the ONNX model in batches; rows are
processed in blocks of about ``batch_size`` cells and written at once, so memory stays bounded
whatever the raster size. The selectable per-cell quantities of probability maps live in
:class:`Quantity` (shared with the prediction heatmap).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal

from . import pca
from .cell_latlon import ToLatLon
from .errors import CspError
from .geotiff import GeoTiffWriter
from .grid import CellGrid
from .model_metadata import PcaBasis
from .onnx_model import OnnxModel
from .probabilities import entropy

EMBEDDING, CLASS_PRIOR, PREDICTION = "location_embedding", "class_prior", "prediction"
MOST_LIKELY, MAX_PROBABILITY, ENTROPY = "most likely class", "max probability", "entropy"
FLOAT_NODATA = -1.0
CLASS_NODATA = 255
RGB_NODATA = 0
BATCH_SIZE = 65_536
PCA_SAMPLE = 16_384
NUMPY_TYPES = {gdal.GDT_Byte: np.uint8, gdal.GDT_Float32: np.float32}

Progress = Callable[[float], None]
Canceled = Callable[[], bool]


class HeatmapCanceled(CspError):
    """The user canceled the heatmap; nothing was written."""


@dataclass(frozen=True)
class Quantity:
    """What a probability heatmap shows per cell: one class's probability, or a summary."""

    label: str
    class_index: int | None = None

    @property
    def is_class_map(self) -> bool:
        return self.label == MOST_LIKELY

    def values(self, probabilities: np.ndarray) -> np.ndarray:
        """uint8 class ids for "most likely class", float32 values otherwise."""
        if self.class_index is not None:
            return probabilities[:, self.class_index].astype(np.float32)
        if self.label == MOST_LIKELY:
            return np.argmax(probabilities, axis=1).astype(np.uint8)
        if self.label == MAX_PROBABILITY:
            return probabilities.max(axis=1).astype(np.float32)
        return entropy(probabilities)


def choose_quantity(choice: str, class_names: list[str], summaries: tuple[str, ...]) -> Quantity:
    """A class name (case-insensitive) or one of ``summaries``; :class:`CspError` listing both."""
    wanted = choice.strip().lower()
    for summary in summaries:
        if wanted == summary:
            return Quantity(summary)
    for index, name in enumerate(class_names):
        if wanted == name.lower():
            return Quantity(name, index)
    raise CspError(f"unknown class {choice!r}: choose one of {', '.join(summaries)} or a class of the model "
                   f"({', '.join(class_names)})")


@dataclass
class HeatmapResult:
    """A finished heatmap file and what the QGIS layer needs to style it."""

    path: Path
    kind: str
    title: str
    style: str  # "rgb", "pseudocolor" or "paletted"
    quantity: str = ""
    class_names: list[str] = field(default_factory=list)
    class_colors: list[str] = field(default_factory=list)
    value_range: tuple[float, float] | None = None
    valid_cells: int = 0
    total_cells: int = 0
    notes: list[str] = field(default_factory=list)


class LocationHeatmap:
    """Runs a location model over every cell of a grid and writes the result as a GeoTIFF."""

    def __init__(self, model: OnnxModel, to_latlon: ToLatLon, batch_size: int = BATCH_SIZE) -> None:
        if not model.metadata.has_location_input or model.metadata.has_image_input:
            raise CspError(f"{model.path.name} is a {model.metadata.kind} model, not a location model")
        if batch_size < 1:
            raise CspError(f"batch size must be at least 1, got {batch_size}")
        self.model, self.to_latlon, self.batch_size = model, to_latlon, batch_size

    def embedding(self, grid: CellGrid, path: str | os.PathLike, wkt: str, progress: Progress | None = None,
                  canceled: Canceled | None = None) -> HeatmapResult:
        """3-band Byte GeoTIFF of the embedding's principal components (1..255, 0 = nodata)."""
        meta = self.model.metadata
        if meta.kind != "location_encoder":
            raise CspError(f"{self.model.path.name} is a {meta.kind} model; the embedding heatmap needs a "
                           "location_encoder")
        basis, notes = meta.pca_basis, ["PCA basis stored in the model"]
        if basis is None:
            basis, notes = self.fit_basis(grid), ["no PCA basis in the model: fitted on this grid's cells, "
                                                  "so colours depend on the extent"]

        def evaluate(latlon: np.ndarray) -> np.ndarray:
            return pca.to_bytes(pca.project(self.run(latlon), basis), basis)

        result = HeatmapResult(Path(path), EMBEDDING, f"{meta.name} embedding (PCA RGB)", "rgb", "PC1-PC3",
                               notes=notes)
        self._stream(grid, wkt, evaluate, gdal.GDT_Byte, RGB_NODATA, ["PC1", "PC2", "PC3"], result,
                     progress, canceled)
        return result

    def prior(self, grid: CellGrid, path: str | os.PathLike, wkt: str, choice: str,
              progress: Progress | None = None, canceled: Canceled | None = None) -> HeatmapResult:
        """P(y | location) of one class, the most likely class (Byte ids) or the entropy (nats)."""
        meta = self.model.metadata
        if meta.kind != "location_prior":
            raise CspError(f"{self.model.path.name} is a {meta.kind} model; the class-prior heatmap needs "
                           "a location_prior")
        quantity = choose_quantity(choice, meta.class_names, (MOST_LIKELY, ENTROPY))
        result = HeatmapResult(Path(path), CLASS_PRIOR, prior_title(quantity, meta.name),
                               "paletted" if quantity.is_class_map else "pseudocolor", quantity.label,
                               list(meta.class_names), list(meta.class_colors))
        data_type, nodata = (gdal.GDT_Byte, CLASS_NODATA) if quantity.is_class_map else (gdal.GDT_Float32,
                                                                                        FLOAT_NODATA)
        self._stream(grid, wkt, lambda latlon: quantity.values(self.run(latlon)), data_type, nodata,
                     [quantity.label], result, progress, canceled)
        return result

    def run(self, latlon: np.ndarray) -> np.ndarray:
        """Model outputs for (lat, lon) rows, in batches of ``batch_size``."""
        if len(latlon) <= self.batch_size:
            return self.model.run(latlon=latlon)
        return np.concatenate([self.model.run(latlon=latlon[i:i + self.batch_size])
                               for i in range(0, len(latlon), self.batch_size)])

    def fit_basis(self, grid: CellGrid) -> PcaBasis:
        """PCA of the embeddings of a regular sample of the grid's valid cells."""
        latlon, valid = self.to_latlon(*grid.sample_centres(PCA_SAMPLE))
        if valid.sum() < 2:
            raise CspError("the heatmap extent has (almost) no cell on Earth in this CRS")
        return pca.fit_pca(self.run(latlon[valid]))

    def _stream(self, grid: CellGrid, wkt: str, evaluate: Callable[[np.ndarray], np.ndarray], data_type: int,
                nodata: float, band_names: list[str], result: HeatmapResult, progress: Progress | None,
                canceled: Canceled | None) -> None:
        bands = len(band_names)
        low, high = np.inf, -np.inf
        with GeoTiffWriter(result.path, grid.n_cols, grid.n_rows, bands, data_type, grid.geotransform(), wkt,
                           nodata, band_names) as out:
            for r0, r1 in grid.row_blocks(self.batch_size):
                if canceled is not None and canceled():
                    raise HeatmapCanceled("heatmap canceled")
                latlon, valid = self.to_latlon(*grid.centres(r0, r1))
                n_valid = int(valid.sum())
                block = np.full((len(valid), bands), nodata, dtype=NUMPY_TYPES[data_type])
                if n_valid:
                    values = evaluate(latlon[valid]).reshape(n_valid, bands)
                    block[valid] = values
                    if data_type == gdal.GDT_Float32:
                        low, high = min(low, float(values.min())), max(high, float(values.max()))
                out.write(r0, block.T.reshape(bands, r1 - r0, grid.n_cols))
                result.valid_cells += n_valid
                if progress is not None:
                    progress(100.0 * r1 / grid.n_rows)
            if result.valid_cells == 0:
                raise CspError("no cell of the heatmap extent lies on Earth in this CRS: nothing to draw")
        result.total_cells = grid.n_cells
        if np.isfinite(low):
            result.value_range = (low, high)


def prior_title(quantity: Quantity, model_name: str) -> str:
    """Layer name of a class-prior heatmap, naming the class."""
    if quantity.is_class_map:
        return f"most likely class by location ({model_name})"
    if quantity.class_index is None:
        return f"entropy of P(y|location) ({model_name})"
    return f"P({quantity.label}|location) ({model_name})"
