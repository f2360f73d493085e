"""One heatmap request → a prepared job (models, grid, cell transform resolved on the main thread).

Shared by the heatmap dialog (run in a :class:`~..ui.heatmap_task.HeatmapTask`) and the Processing
algorithms, with the same shape as :mod:`.classify`: :func:`prepare` raises :class:`CspError` for
anything the user must fix; :meth:`HeatmapJob.execute` only computes and writes, so it is safe to
run in a worker thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qgis.core import QgsCoordinateReferenceSystem, QgsVectorLayer

from ..contract.errors import CspError
from ..contract.onnx_model import OnnxModel
from ..contract.prior_exponent import PriorExponent, fusion_exponent
from ..contract.schema import Kind
from ..core.cell_latlon import LatLonTransform
from ..core.default_models import find_default_model
from ..core.grid import CellGrid
from ..core.heatmap import MAX_PROBABILITY, MOST_LIKELY, HeatmapResult, LocationHeatmap
from ..core.kinds import HeatmapKind
from ..core.prediction_heatmap import TileProbabilities, prediction_heatmap
from ..core.progress import IsCanceled, Progress
from ..core.staging import check_output_paths
from ..core.tiling import Extent
from ..qgis_io.crs import WGS84, cell_to_latlon, wkt_of, world_extent
from ..qgis_io.heatmap_layers import read_tile_probabilities

DEFAULT_WIDTH = 720
MODEL_KINDS = {HeatmapKind.LOCATION_EMBEDDING: Kind.LOCATION_ENCODER, HeatmapKind.CLASS_PRIOR: Kind.LOCATION_PRIOR,
               HeatmapKind.PREDICTION: Kind.LOCATION_PRIOR}


@dataclass
class HeatmapRequest:
    """What the user asked for; ``None`` fields take the documented defaults.

    ``model_path``: the location model (for ``prediction``: the prior to fuse, used only with
    ``fuse_prior``); default: the installed default of the right kind (a prior named "world" first).
    ``extent``: in ``crs`` (default EPSG:4326), default the CRS's world extent. Grid: ``cell_size``
    in CRS units, else ``width`` (× ``height``) cells, else 720 cells wide.
    """

    kind: HeatmapKind
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
    """A validated request: location heatmaps use ``heatmap`` and ``grid``, the prediction heatmap
    ``tiles`` (and ``prior``/``to_latlon``/``prior_exponent`` when fused)."""

    description: str
    kind: HeatmapKind
    output: Path
    wkt: str
    choice: str
    heatmap: LocationHeatmap | None = None
    grid: CellGrid | None = None
    tiles: TileProbabilities | None = None
    prior: OnnxModel | None = None
    to_latlon: LatLonTransform | None = None
    prior_exponent: PriorExponent = field(default_factory=lambda: PriorExponent(1.0))  # α of the fusion
    source: str = "tiles"  # the name of the prediction heatmap's tile layer

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> HeatmapResult:
        """Compute and write the GeoTIFF (any thread); raises ``Canceled`` when ``canceled()`` says so."""
        if self.kind == HeatmapKind.LOCATION_EMBEDDING:
            return self.heatmap.embedding(self.grid, self.output, self.wkt, progress, canceled)
        if self.kind == HeatmapKind.CLASS_PRIOR:
            return self.heatmap.prior(self.grid, self.output, self.wkt, self.choice, progress, canceled)
        result = prediction_heatmap(self.tiles, self.output, self.wkt, self.choice, self.prior, self.to_latlon,
                                    self.prior_exponent.value, self.source)
        result.notes += self.prior_exponent.notes
        if progress is not None:
            progress(100.0)
        return result

    @property
    def notes(self) -> list[str]:
        """Which execution provider runs each model, for the log of every run."""
        models = (self.heatmap.model if self.heatmap is not None else None, self.prior)
        return [model.runtime_note for model in models if model is not None]

    @property
    def warnings(self) -> list[str]:
        """A GPU that was asked for but is not used (the CPU runs the model instead)."""
        models = (self.heatmap.model if self.heatmap is not None else None, self.prior)
        return [model.provider_warning for model in models if model is not None and model.provider_warning]


def default_model(kind: HeatmapKind) -> Path | None:
    """The installed default model for a heatmap kind (world-region prior preferred)."""
    return find_default_model(MODEL_KINDS[kind], prefer="world" if MODEL_KINDS[kind] == Kind.LOCATION_PRIOR else None)


def load_model(request: HeatmapRequest, class_names: list[str] | None = None) -> OnnxModel:
    """The requested model, else the installed default (over ``class_names`` when given, to fuse)."""
    path = request.model_path or (find_default_model(Kind.LOCATION_PRIOR, class_names=class_names) if class_names
                                  else default_model(request.kind))
    if path is None:
        over = f" over the classes {', '.join(class_names)}" if class_names else ""
        raise CspError(f"no model given and no default {MODEL_KINDS[request.kind]} model{over} is installed in models/")
    return OnnxModel.load(path)


def make_grid(request: HeatmapRequest, crs: QgsCoordinateReferenceSystem) -> CellGrid:
    extent = request.extent or world_extent(crs)
    if crs.isGeographic():
        check_geographic_extent(extent, crs)
    if request.cell_size:
        return CellGrid.from_cell_size(extent, request.cell_size)
    width = request.width or DEFAULT_WIDTH
    height = request.height or max(1, math.ceil(width * extent.height / max(extent.width, 1e-300)))
    return CellGrid.from_shape(extent, width, height)


def check_geographic_extent(extent: Extent, crs: QgsCoordinateReferenceSystem) -> None:
    """Refuse longitudes beyond ±180 and latitudes beyond ±90: cells there would be georeferenced
    off the globe (wrapping them silently would draw the same place twice)."""
    if extent.xmin >= -180 and extent.xmax <= 180 and extent.ymin >= -90 and extent.ymax <= 90:
        return
    raise CspError(f"the extent (lon {extent.xmin:g}..{extent.xmax:g}, lat {extent.ymin:g}..{extent.ymax:g}) "
                   f"leaves the globe: in {crs.authid() or 'a geographic CRS'} longitudes must lie within "
                   "-180..180 and latitudes within -90..90; for a map across the dateline use a projected CRS "
                   "centred on the Pacific, e.g. EPSG:3832")


def prepare(request: HeatmapRequest) -> HeatmapJob:
    """Resolve models, grid and transforms; raise :class:`CspError` on bad input."""
    output = Path(request.output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise CspError(f"the heatmap output must be a .tif file, got {output.name}")
    check_output_paths([output])
    if request.kind == HeatmapKind.PREDICTION:
        return _prepare_prediction(request, output)
    if request.kind not in (HeatmapKind.LOCATION_EMBEDDING, HeatmapKind.CLASS_PRIOR):
        raise CspError(f"unknown heatmap kind {request.kind!r}")
    crs = request.crs if request.crs is not None and request.crs.isValid() else WGS84
    model = load_model(request)
    grid = make_grid(request, crs)
    heatmap = LocationHeatmap(model, cell_to_latlon(crs, min(grid.cell_w, grid.cell_h)))
    description = f"CSP: {request.kind.replace('_', ' ')} heatmap {grid.n_cols} x {grid.n_rows} ({crs.authid()})"
    return HeatmapJob(description, request.kind, output, wkt_of(crs), request.choice or MOST_LIKELY,
                      heatmap=heatmap, grid=grid)


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
    return HeatmapJob(f"CSP: prediction heatmap of {layer.name()}", HeatmapKind.PREDICTION, output,
                      wkt_of(layer.crs()), request.choice or MAX_PROBABILITY, tiles=tiles, prior=prior,
                      to_latlon=to_latlon, prior_exponent=exponent, source=layer.name())

