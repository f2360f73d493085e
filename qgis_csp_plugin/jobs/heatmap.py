"""One heatmap request → a prepared job (models, grid, cell transform resolved on the main thread).

Shared by the heatmap dialog (run in a :class:`~..ui.heatmap_task.HeatmapTask`) and the Processing
algorithms, with the same shape as :mod:`.classify`: :func:`prepare` raises :class:`GeoSslError` for
anything the user must fix; ``job.execute`` only computes and writes, so it is safe to run in a worker
thread. What differs between the heatmap kinds is one table, :data:`HEATMAP_TYPES`: for each
:class:`~..core.kinds.HeatmapKind`, the kind of model it runs, its job class and how its layer is styled.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer, QgsVectorLayer

from ..contract.errors import GeoSslError
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
from ..qgis_io.heatmap_layers import open_heatmap, read_tile_probabilities, style_embedding, style_probabilities

DEFAULT_WIDTH = 720


@dataclass
class HeatmapRequest:
    """What the user asked for; ``None`` fields take the documented defaults.

    ``kind``: a :class:`HeatmapKind` (or its string value). ``model_path``: the location model (for
    ``prediction``: the prior to fuse, used only with ``fuse_prior``); default: the installed default of the
    right kind (a prior named "world" first). ``extent``: in ``crs`` (default EPSG:4326), default the CRS's
    world extent. Grid: ``cell_size`` in CRS units, else ``width`` (× ``height``) cells, else 720 cells wide.
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
class HeatmapJob(ABC):
    """A validated request: where to write what (the subclasses hold their models and grids)."""

    description: str
    output: Path
    wkt: str
    choice: str

    @property
    @abstractmethod
    def models(self) -> tuple[OnnxModel, ...]:
        """The models this job runs."""

    @property
    def notes(self) -> list[str]:
        """Which execution provider runs each model, for the log of every run."""
        return [model.runtime_note for model in self.models]

    @property
    def warnings(self) -> list[str]:
        """A GPU that was asked for but is not used (the CPU runs the model instead)."""
        return [model.provider_warning for model in self.models if model.provider_warning]

    @abstractmethod
    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> HeatmapResult:
        """Compute and write the GeoTIFF (any thread); raises ``Canceled`` when ``canceled()`` says so."""


@dataclass
class LocationHeatmapJob(HeatmapJob):
    """A location model run on every cell of a grid."""

    heatmap: LocationHeatmap
    grid: CellGrid

    @property
    def models(self) -> tuple[OnnxModel, ...]:
        return (self.heatmap.model,)

    @classmethod
    def prepare(cls, kind: HeatmapKind, request: HeatmapRequest, output: Path) -> LocationHeatmapJob:
        crs = request.crs if request.crs is not None and request.crs.isValid() else WGS84
        model = load_model(request, kind)
        grid = make_grid(request, crs)
        heatmap = LocationHeatmap(model, cell_to_latlon(crs, min(grid.cell_w, grid.cell_h)))
        description = f"CSP: {kind.value.replace('_', ' ')} heatmap {grid.n_cols} x {grid.n_rows} ({crs.authid()})"
        return cls(description, output, wkt_of(crs), request.choice or MOST_LIKELY, heatmap, grid)


class EmbeddingHeatmapJob(LocationHeatmapJob):
    """A location encoder's embedding as RGB (its principal components)."""

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> HeatmapResult:
        return self.heatmap.embedding(self.grid, self.output, self.wkt, progress, canceled)


class ClassPriorHeatmapJob(LocationHeatmapJob):
    """A location prior's P(y|location) of one class, its most likely class or its entropy."""

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> HeatmapResult:
        return self.heatmap.prior(self.grid, self.output, self.wkt, self.choice, progress, canceled)


@dataclass
class PredictionHeatmapJob(HeatmapJob):
    """A Classify result's tile probabilities as a raster, optionally fused with a location prior."""

    tiles: TileProbabilities
    prior: OnnxModel | None = None
    to_latlon: LatLonTransform | None = None
    prior_exponent: PriorExponent = field(default_factory=lambda: PriorExponent(1.0))  # α of the fusion
    source: str = "tiles"  # the name of the tile layer

    @property
    def models(self) -> tuple[OnnxModel, ...]:
        return (self.prior,) if self.prior is not None else ()

    @classmethod
    def prepare(cls, kind: HeatmapKind, request: HeatmapRequest, output: Path) -> PredictionHeatmapJob:
        layer = request.tiles_layer
        if layer is None or not layer.isValid():
            raise GeoSslError("choose the tile layer of a Classify layer result")
        tiles = read_tile_probabilities(layer)
        prior = to_latlon = None
        exponent = PriorExponent(1.0)
        if request.fuse_prior:
            prior = load_model(request, kind, class_names=tiles.class_names)
            exponent = fusion_exponent(prior.metadata, request.prior_exponent)
            tile_width = float(np.median(tiles.xmax - tiles.xmin)) if len(tiles.xmin) else 1.0
            to_latlon = cell_to_latlon(layer.crs(), tile_width)
        return cls(f"CSP: prediction heatmap of {layer.name()}", output, wkt_of(layer.crs()),
                   request.choice or MAX_PROBABILITY, tiles, prior, to_latlon, exponent, layer.name())

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> HeatmapResult:
        result = prediction_heatmap(self.tiles, self.output, self.wkt, self.choice, self.prior, self.to_latlon,
                                    self.prior_exponent.value, self.source)
        result.notes += self.prior_exponent.notes
        if progress is not None:
            progress(100.0)
        return result


@dataclass(frozen=True)
class HeatmapType:
    """What one heatmap kind needs: its title, the kind of model it runs, the job that prepares and computes
    it, and how its layer is styled."""

    title: str
    model_kind: Kind
    job: type[LocationHeatmapJob] | type[PredictionHeatmapJob]
    style: Callable[[QgsRasterLayer, HeatmapResult], None]


HEATMAP_TYPES = {
    HeatmapKind.LOCATION_EMBEDDING: HeatmapType("Location-embedding heatmap", Kind.LOCATION_ENCODER,
                                                EmbeddingHeatmapJob, style_embedding),
    HeatmapKind.CLASS_PRIOR: HeatmapType("Class-prior heatmap P(y|location)", Kind.LOCATION_PRIOR,
                                         ClassPriorHeatmapJob, style_probabilities),
    HeatmapKind.PREDICTION: HeatmapType("Prediction-probability heatmap", Kind.LOCATION_PRIOR, PredictionHeatmapJob,
                                        style_probabilities),
}


def prepare(request: HeatmapRequest) -> HeatmapJob:
    """Resolve models, grid and transforms; raise :class:`GeoSslError` on bad input."""
    output = Path(request.output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise GeoSslError(f"the heatmap output must be a .tif file, got {output.name}")
    check_output_paths([output])
    kind = HeatmapKind.of(request.kind)
    return HEATMAP_TYPES[kind].job.prepare(kind, request, output)


def load_heatmap(result: HeatmapResult) -> QgsRasterLayer:
    """The heatmap as a layer named after its content, styled by kind."""
    layer = open_heatmap(result)
    style_heatmap(layer, result)
    return layer


def style_heatmap(layer: QgsRasterLayer, result: HeatmapResult) -> None:
    """Style ``layer`` as its kind of heatmap (RGB, class palette, or a colour ramp stretched to the data)."""
    HEATMAP_TYPES[result.kind].style(layer, result)


def default_model(kind: HeatmapKind) -> Path | None:
    """The installed default model for a heatmap kind (world-region prior preferred)."""
    model_kind = HEATMAP_TYPES[HeatmapKind.of(kind)].model_kind
    return find_default_model(model_kind, prefer="world" if model_kind == Kind.LOCATION_PRIOR else None)


def load_model(request: HeatmapRequest, kind: HeatmapKind, class_names: list[str] | None = None) -> OnnxModel:
    """The requested model, else the installed default (over ``class_names`` when given, to fuse)."""
    path = request.model_path or (find_default_model(Kind.LOCATION_PRIOR, class_names=class_names) if class_names
                                  else default_model(kind))
    if path is None:
        over = f" over the classes {', '.join(class_names)}" if class_names else ""
        raise GeoSslError(f"no model given and no default {HEATMAP_TYPES[kind].model_kind} model{over} is installed "
                          "in models/")
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
    raise GeoSslError(f"the extent (lon {extent.xmin:g}..{extent.xmax:g}, lat {extent.ymin:g}..{extent.ymax:g}) "
                      f"leaves the globe: in {crs.authid() or 'a geographic CRS'} longitudes must lie within "
                      "-180..180 and latitudes within -90..90; for a map across the dateline use a projected CRS "
                      "centred on the Pacific, e.g. EPSG:3832")
