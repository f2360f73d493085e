"""Location heatmaps streamed to GeoTIFF: the embedding map (PCA → RGB) and the class-prior map.

Every cell centre of a :class:`~.grid.CellGrid` goes through a :class:`~.cell_latlon.LatLonTransform`
(cells without a place on Earth become nodata), then through the ONNX model in parallel batches of
``batch_size`` points (:class:`~.batch_runner.BatchRunner`), each reduced to the written values
(PCA colours, a class probability...) while it is still in the CPU cache. Rows go in blocks of
about ``block_cells`` cells: while the model runs on one block, the calling thread transforms the
next and writes the previous, so memory stays bounded whatever the raster size and no core idles.
The selectable per-cell quantities of probability maps live in :class:`Quantity` (shared with the
prediction heatmap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal

from ..contract.errors import GeoSslError
from ..contract.onnx_model import OnnxModel
from ..contract.pca import PcaColours, fit_pca
from ..contract.probabilities import entropy, row_max
from ..contract.schema import Kind, PcaBasis
from .batch_runner import BATCH_SIZE, BatchRunner, Reduce, finish
from .cell_latlon import LatLonTransform
from .geotiff import GeoTiffWriter
from .grid import CellGrid
from .kinds import HeatmapKind
from .progress import Canceled, IsCanceled, Progress

MOST_LIKELY, MAX_PROBABILITY, ENTROPY = "most likely class", "max probability", "entropy"
FLOAT_NODATA = -1.0
CLASS_NODATA = 255
RGB_NODATA = 0
BLOCK_CELLS = 65_536  # cells per row block: transformed to (lat, lon) and written at once
PCA_SAMPLE = 16_384
NUMPY_TYPES = {gdal.GDT_Byte: np.uint8, gdal.GDT_Float32: np.float32}

@dataclass(frozen=True)
class Quantity:
    """What a probability heatmap shows per cell: one class's probability, or a summary."""

    label: str
    class_index: int | None = None

    @property
    def is_class_map(self) -> bool:
        return self.label == MOST_LIKELY

    @property
    def raster(self) -> tuple[int, float]:
        """GDAL data type and nodata value of its raster: Byte class ids or Float32 values."""
        return (gdal.GDT_Byte, CLASS_NODATA) if self.is_class_map else (gdal.GDT_Float32, FLOAT_NODATA)

    def values(self, probabilities: np.ndarray) -> np.ndarray:
        """uint8 class ids for "most likely class", float32 values otherwise."""
        if self.class_index is not None:
            return probabilities[:, self.class_index].astype(np.float32)
        if self.label == MOST_LIKELY:
            return np.argmax(probabilities, axis=1).astype(np.uint8)
        if self.label == MAX_PROBABILITY:
            return row_max(probabilities).astype(np.float32, copy=False)
        return entropy(probabilities)


def choose_quantity(choice: str, class_names: list[str], summaries: tuple[str, ...]) -> Quantity:
    """A class name (case-insensitive) or one of ``summaries``; :class:`GeoSslError` listing both."""
    wanted = choice.strip().lower()
    for summary in summaries:
        if wanted == summary:
            return Quantity(summary)
    for index, name in enumerate(class_names):
        if wanted == name.lower():
            return Quantity(name, index)
    raise GeoSslError(f"unknown class {choice!r}: choose one of {', '.join(summaries)} or a class of the model "
                      f"({', '.join(class_names)})")


@dataclass
class HeatmapResult:
    """A finished heatmap file and what the QGIS layer needs to style it."""

    path: Path
    kind: HeatmapKind
    title: str
    style: str  # "rgb", "pseudocolor" or "paletted"
    quantity: str = ""
    class_names: list[str] = field(default_factory=list)
    class_colors: list[str] = field(default_factory=list)
    value_range: tuple[float, float] | None = None
    valid_cells: int = 0
    total_cells: int = 0
    notes: list[str] = field(default_factory=list)

    def coverage(self) -> str:
        """How many cells got a value: on Earth (location heatmaps), with a classified tile (prediction)."""
        where = "with a classified tile" if self.kind == HeatmapKind.PREDICTION else "on Earth"
        return f"{self.valid_cells:,} of {self.total_cells:,} cells {where}"


class LocationHeatmap:
    """Runs a location model over every cell of a grid and writes the result as a GeoTIFF."""

    def __init__(self, model: OnnxModel, to_latlon: LatLonTransform, batch_size: int = BATCH_SIZE,
                 block_cells: int = BLOCK_CELLS, workers: int | None = None) -> None:
        """``workers``: threads running the model (default: one per core)."""
        if not model.metadata.has_location_input or model.metadata.has_image_input:
            raise GeoSslError(f"{model.path.name} is a model of kind {model.metadata.kind}, not a location model")
        if batch_size < 1 or block_cells < 1:
            raise GeoSslError(f"batch size and block size must be at least 1, got {batch_size} and {block_cells}")
        self.model, self.to_latlon = model, to_latlon
        self.batch_size, self.block_cells, self.workers = batch_size, block_cells, workers

    def runner(self) -> BatchRunner:
        return BatchRunner(self.model, self.batch_size, self.workers)

    def embedding(self, grid: CellGrid, path: str | os.PathLike, wkt: str, progress: Progress | None = None,
                  canceled: IsCanceled | None = None) -> HeatmapResult:
        """3-band Byte GeoTIFF of the embedding's principal components (1..255, 0 = nodata)."""
        meta = self.model.metadata
        if meta.kind != Kind.LOCATION_ENCODER:
            raise GeoSslError(f"{self.model.path.name} is a model of kind {meta.kind}; the embedding heatmap needs a "
                              f"{Kind.LOCATION_ENCODER}")
        basis, notes = meta.pca_basis, ["PCA basis stored in the model"]
        if basis is None:
            basis, notes = self.fit_basis(grid), ["no PCA basis in the model: fitted on this grid's cells, "
                                                  "so colours depend on the extent"]

        result = HeatmapResult(Path(path), HeatmapKind.LOCATION_EMBEDDING, f"{meta.name} embedding (PCA RGB)", "rgb",
                               "PC1-PC3", notes=notes)
        colours = PcaColours(basis)
        self.stream(grid, wkt, lambda outputs, _: colours(outputs), gdal.GDT_Byte, RGB_NODATA,
                    ["PC1", "PC2", "PC3"], result, progress, canceled)
        return result

    def prior(self, grid: CellGrid, path: str | os.PathLike, wkt: str, choice: str,
              progress: Progress | None = None, canceled: IsCanceled | None = None) -> HeatmapResult:
        """P(y | location) of one class, the most likely class (Byte ids) or the entropy (nats)."""
        meta = self.model.metadata
        if meta.kind != Kind.LOCATION_PRIOR:
            raise GeoSslError(f"{self.model.path.name} is a model of kind {meta.kind}; the class-prior heatmap needs "
                              f"a {Kind.LOCATION_PRIOR}")
        quantity = choose_quantity(choice, meta.class_names, (MOST_LIKELY, ENTROPY))
        title = prior_title(quantity, meta.name, presence=meta.output_activation == "sigmoid")
        result = HeatmapResult(Path(path), HeatmapKind.CLASS_PRIOR, title,
                               "paletted" if quantity.is_class_map else "pseudocolor", quantity.label,
                               list(meta.class_names), list(meta.class_colors))
        self.stream(grid, wkt, lambda outputs, _: quantity.values(outputs), *quantity.raster, [quantity.label],
                    result, progress, canceled)
        return result

    def fit_basis(self, grid: CellGrid) -> PcaBasis:
        """PCA of the embeddings of a regular sample of the grid's valid cells."""
        latlon, valid = self.to_latlon(*grid.sample_centres(PCA_SAMPLE))
        if valid.sum() < 2:
            raise GeoSslError("the heatmap extent has (almost) no cell on Earth in this CRS")
        with self.runner() as runner:
            return fit_pca(runner.run(latlon[valid]))

    def stream(self, grid: CellGrid, wkt: str, reduce: Reduce, data_type: int, nodata: float,
               band_names: list[str], result: HeatmapResult, progress: Progress | None = None,
               canceled: IsCanceled | None = None, wanted: np.ndarray | None = None,
               reduce_per_batch: bool = True) -> None:
        """Write ``reduce(model(cell), cell id)`` for every cell on Earth (and ``wanted``: a flat
        mask over the grid), nodata elsewhere: one row block in the model while the next is
        transformed and the previous written. Cell ids are row-major indices into the grid.

        ``reduce`` runs per model batch in the worker threads (right for a few large numpy
        operations, e.g. PCA), or with ``reduce_per_batch=False`` once per row block in the calling
        thread (right for many small ones, which would contend for the GIL in small batches)."""
        bands, dtype = len(band_names), NUMPY_TYPES[data_type]
        in_workers = reduce if reduce_per_batch else None

        def start(r0: int, r1: int) -> tuple:
            latlon, valid = self.to_latlon.grid_rows(grid, r0, r1)
            if wanted is not None:
                valid &= wanted[r0 * grid.n_cols:r1 * grid.n_cols]
            first, every = r0 * grid.n_cols, bool(valid.all())
            cells = np.arange(first, first + len(valid)) if every else first + np.flatnonzero(valid)
            points = latlon if every else latlon[valid]
            values = (np.empty((len(cells), bands), dtype=dtype) if reduce_per_batch
                      else np.empty((len(cells), self.model.output_width), dtype=np.float32))
            return r0, r1, valid, cells, values, runner.submit(points, in_workers, values, cells)

        def complete(r0: int, r1: int, valid: np.ndarray, cells: np.ndarray, values: np.ndarray,
                     futures: list) -> None:
            finish(futures)
            if not reduce_per_batch:
                values = reduce(values, cells).reshape(len(cells), bands)
            if len(values) == len(valid):
                block = values
            else:
                block = np.full((len(valid), bands), nodata, dtype=dtype)
                block[valid] = values
            if len(values) and data_type == gdal.GDT_Float32:
                low, high = result.value_range or (np.inf, -np.inf)
                result.value_range = (min(low, float(values.min())), max(high, float(values.max())))
            out.write(r0, block.T.reshape(bands, r1 - r0, grid.n_cols))
            result.valid_cells += len(values)
            if progress is not None:
                progress(100.0 * r1 / grid.n_rows)

        with GeoTiffWriter(result.path, grid.n_cols, grid.n_rows, bands, data_type, grid.geotransform(), wkt,
                           nodata, band_names) as out, self.runner() as runner:
            in_model = None
            for r0, r1 in grid.row_blocks(self.block_cells):
                if canceled is not None and canceled():
                    raise Canceled("heatmap canceled")
                started = start(r0, r1)
                if in_model is not None:
                    complete(*in_model)
                in_model = started
            complete(*in_model)
            if result.valid_cells == 0:
                raise GeoSslError("no cell of the heatmap extent lies on Earth in this CRS: nothing to draw")
        result.total_cells = grid.n_cells


def prior_title(quantity: Quantity, model_name: str, presence: bool = False) -> str:
    """Layer name of a class-prior heatmap, naming the class; ``presence`` for a sigmoid
    (presence-only) prior, whose outputs are per-class presence probabilities."""
    if quantity.is_class_map:
        return f"most likely class by location ({model_name})"
    if quantity.class_index is None:
        return f"entropy of {'normalised presences' if presence else 'P(y|location)'} ({model_name})"
    if presence:
        return f"presence of {quantity.label} at location ({model_name})"
    return f"P({quantity.label}|location) ({model_name})"
