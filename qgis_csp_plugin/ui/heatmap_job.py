"""One heatmap request → a prepared job (models, grid, cell transform resolved on the main thread).

Shared by the heatmap dialog (run in a :class:`~.heatmap_task.HeatmapTask`) and the Processing
algorithms. :func:`prepare` raises :class:`CspError` for anything the user must fix; the returned
job only computes and writes, so it is safe to run in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qgis.core import QgsCoordinateReferenceSystem, QgsVectorLayer

from ..core.errors import CspError
from ..core.grid import CellGrid
from ..core.heatmap import (
    CLASS_PRIOR,
    EMBEDDING,
    PREDICTION,
    Canceled,
    HeatmapResult,
    LocationHeatmap,
    Progress,
)
from ..core.onnx_model import OnnxModel, find_default_model
from ..core.prediction_heatmap import prediction_heatmap
from ..core.prior_exponent import PriorExponent, fusion_exponent
from ..core.tiling import Extent
from .heatmap_layers import WGS84, cell_to_latlon, read_tile_probabilities, wkt_of, world_extent

DEFAULT_WIDTH = 720
MODEL_KINDS = {EMBEDDING: "location_encoder", CLASS_PRIOR: "location_prior", PREDICTION: "location_prior"}


@dataclass
class HeatmapRequest:
    """What the user asked for; ``None`` fields take the documented defaults.

    ``model_path``: the location model (for ``prediction``: the prior to fuse, used only with
    ``fuse_prior``); default: the installed default of the right kind (a prior named "world" first).
    ``extent``: in ``crs`` (default EPSG:4326), default the CRS's world extent. Grid: ``cell_size``
    in CRS units, else ``width`` (× ``height``) cells, else 720 cells wide.
    """

    kind: str
    output: Path
    model_path: Path | None = None
    crs: QgsCoordinateReferenceSystem | None = None
    extent: Extent | None = None
    cell_size: float | None = None
    width: int | None = None
    height: int | None = None
    choice: str = ""
    tiles_layer: QgsVectorLayer | None = None
    fuse_prior: bool = False
    prior_exponent: float | None = None  # α override when fusing; None = the prior's stored α


@dataclass
class HeatmapJob:
    description: str
    run: Callable[[Progress | None, Canceled | None], HeatmapResult]


def default_model(kind: str) -> Path | None:
    """The installed default model for a heatmap kind (world-region prior preferred)."""
    return find_default_model(MODEL_KINDS[kind], prefer="world" if MODEL_KINDS[kind] == "location_prior" else None)


def load_model(request: HeatmapRequest, class_names: list[str] | None = None) -> OnnxModel:
    """The requested model, else the installed default (over ``class_names`` when given, to fuse)."""
    path = request.model_path or (find_default_model("location_prior", class_names=class_names) if class_names
                                  else default_model(request.kind))
    if path is None:
        over = f" over the classes {', '.join(class_names)}" if class_names else ""
        raise CspError(f"no model given and no default {MODEL_KINDS[request.kind]} model{over} is installed in models/")
    return OnnxModel.load(path)


def make_grid(request: HeatmapRequest, crs: QgsCoordinateReferenceSystem) -> CellGrid:
    extent = request.extent or world_extent(crs)
    if request.cell_size:
        return CellGrid.from_cell_size(extent, request.cell_size)
    width = request.width or DEFAULT_WIDTH
    height = request.height or max(1, math.ceil(width * extent.height / max(extent.width, 1e-300)))
    return CellGrid.from_shape(extent, width, height)


def prepare(request: HeatmapRequest) -> HeatmapJob:
    """Resolve models, grid and transforms; raise :class:`CspError` on bad input."""
    output = Path(request.output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise CspError(f"the heatmap output must be a .tif file, got {output.name}")
    if request.kind == PREDICTION:
        return _prepare_prediction(request, output)
    if request.kind not in (EMBEDDING, CLASS_PRIOR):
        raise CspError(f"unknown heatmap kind {request.kind!r}")
    crs = request.crs if request.crs is not None and request.crs.isValid() else WGS84
    model = load_model(request)
    grid = make_grid(request, crs)
    heatmap = LocationHeatmap(model, cell_to_latlon(crs, min(grid.cell_w, grid.cell_h)))
    wkt = wkt_of(crs)
    description = f"CSP: {request.kind.replace('_', ' ')} heatmap {grid.n_cols} x {grid.n_rows} ({crs.authid()})"
    if request.kind == EMBEDDING:
        return HeatmapJob(description, lambda progress=None, canceled=None: heatmap.embedding(
            grid, output, wkt, progress, canceled))
    choice = request.choice or "most likely class"
    return HeatmapJob(description, lambda progress=None, canceled=None: heatmap.prior(
        grid, output, wkt, choice, progress, canceled))


def _prepare_prediction(request: HeatmapRequest, output: Path) -> HeatmapJob:
    layer = request.tiles_layer
    if layer is None or not layer.isValid():
        raise CspError("choose the tile layer of a Classify layer result")
    tiles = read_tile_probabilities(layer)
    prior = to_latlon = None
    exponent = PriorExponent(1.0)
    if request.fuse_prior:
        prior = load_model(request, class_names=tiles.class_names)
        exponent = fusion_exponent(prior.metadata, request.prior_exponent)
        tile_width = float(np.median(tiles.xmax - tiles.xmin)) if len(tiles.xmin) else 1.0
        to_latlon = cell_to_latlon(layer.crs(), tile_width)
    wkt = wkt_of(layer.crs())
    choice = request.choice or "max probability"

    def run(progress: Progress | None = None, canceled: Canceled | None = None) -> HeatmapResult:
        result = prediction_heatmap(tiles, output, wkt, choice, prior, to_latlon, exponent.value)
        result.notes += exponent.notes
        if progress is not None:
            progress(100.0)
        return result

    return HeatmapJob(f"CSP: prediction heatmap of {layer.name()}", run)

