"""The one classification runner behind the dialog's QgsTask and ``csp:classify``.

Same shape as :mod:`.heatmap`: :func:`prepare` (main thread) validates the request and builds
everything the run needs; :meth:`ClassifyJob.execute` (any thread) classifies and writes the
outputs all-or-nothing; :func:`load_outputs` (main thread) opens and styles the written files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsGeometry,
    QgsMapLayer,
    QgsRasterLayer,
    QgsRectangle,
)

from ..contract.errors import GeoSslError
from ..contract.latlon import fraction_outside
from ..contract.onnx_model import OnnxModel
from ..contract.prior_exponent import fusion_exponent
from ..contract.schema import LATLON_INPUT, Kind
from ..core.band_mapping import BandChoice
from ..core.classify import Classifier, PixelReader, TileResults, check_pixel_memory
from ..core.default_models import find_default_model
from ..core.dense import average_overlaps
from ..core.kinds import OutputKind
from ..core.pixel_map import PixelMapper, PixelMapResult
from ..core.progress import IsCanceled, Progress
from ..core.staging import StagedOutputs, check_output_paths
from ..core.tiling import MAX_TILES, Extent, ExtentError, TileGrid
from ..qgis_io.crs import cell_to_latlon
from ..qgis_io.layers import (
    load_class_raster,
    load_probability_raster,
    load_tile_vector,
    open_pixel_raster,
    pixel_rows,
    write_class_raster,
    write_probability_raster,
    write_tile_vector,
)
from .raster_input import ReadPlan, read_plan


@dataclass
class ClassifyRequest:
    """What to classify and where to write it (extent and polygons in the layer CRS)."""

    layer: QgsRasterLayer
    model_path: Path
    outputs: dict[OutputKind, Path]
    extent: QgsRectangle | None = None
    polygons: QgsGeometry | None = None
    resolution_m: float | None = None
    tile_size: int | None = None
    overlap: float | None = None
    stride: int | None = None  # 1 with a classifier that says dense_pixels: every pixel (core.pixel_map)
    bands: BandChoice | None = None  # None: by name, as at training, by sensor or position (band_mapping)
    sensor: str | None = None  # a key of contract.bands.SENSORS; None: from the file name
    acquired: date | None = None  # acquisition date (month input); None: from the file name/metadata, else July
    batch_size: int = 16
    use_prior: bool = False
    prior_path: Path | None = None
    prior_exponent: float | None = None  # α override; None = the prior's stored α
    force_prior: bool = False  # fuse even outside the prior's training area (else α = 0 there)
    max_tiles: int | None = MAX_TILES


@dataclass
class ClassifyJob:
    """A validated request: models, grid, pixel reader; safe to run in a worker thread."""

    request: ClassifyRequest
    model: OnnxModel
    classifier: Classifier
    grid: TileGrid
    keep: np.ndarray | None
    reader: PixelReader
    crs: QgsCoordinateReferenceSystem
    warnings: list[str] = field(default_factory=list)
    prior_exponent: float | None = None  # the α fused with; None without a prior
    remarks: list[str] = field(default_factory=list)  # facts for the log: resampling, bands used/masked, month…
    pixel_mapper: PixelMapper | None = None  # maps every pixel; ``grid`` is then the pixel grid (1 px cells)

    @property
    def description(self) -> str:
        return f"CSP: classify {self.request.layer.name()}"

    @property
    def plan(self) -> str:
        """What the run will classify, for the log."""
        grid, name = self.grid, self.model.metadata.name
        if self.pixel_mapper is not None:
            return (f"every pixel: {grid.n_tiles:,} pixels ({grid.n_cols} x {grid.n_rows}), each from the "
                    f"{self.pixel_mapper.tile_size} px tile centred on it, with {name} (per-pixel embeddings)")
        return f"{grid.n_tiles:,} tiles ({grid.n_cols} x {grid.n_rows}) of {grid.tile_size} px with {name}"

    @property
    def notes(self) -> list[str]:
        """For the log of every run: which execution provider runs each model, and the remarks."""
        return [m.runtime_note for m in (self.model, self.classifier.prior) if m is not None] + self.remarks

    def execute(self, progress: Progress | None = None,
                canceled: IsCanceled | None = None) -> tuple[TileResults | PixelMapResult, dict[OutputKind, Path]]:
        """Classify and write the requested outputs; nothing is left behind on error or cancel.

        With a stride below half the tile size, each cell's probabilities are averaged over the tiles
        that contain it (:func:`~..core.dense.average_overlaps`); maps of every pixel are written strip
        by strip (:mod:`~..core.pixel_map`)."""
        if self.pixel_mapper is not None:
            return self._map_every_pixel(progress, canceled)
        results = average_overlaps(self.classifier.run(self.grid, self.reader, self.keep, progress, canceled))
        writers = {OutputKind.VECTOR: write_tile_vector, OutputKind.CLASSES: write_class_raster,
                   OutputKind.PROBABILITY: write_probability_raster}
        written = {}
        with StagedOutputs() as staging:
            for kind, final in self.request.outputs.items():
                if final is not None:
                    writers[kind](staging.path(final), results, self.crs)
                    written[kind] = Path(final)
            staging.commit()
        return results, written

    def _map_every_pixel(self, progress: Progress | None,
                         canceled: IsCanceled | None) -> tuple[PixelMapResult, dict[OutputKind, Path]]:
        outputs = {kind: Path(final) for kind, final in self.request.outputs.items()
                   if final is not None and kind != OutputKind.VECTOR}  # tile polygons: one per pixel, not written
        names = list(self.model.metadata.class_names)
        with StagedOutputs() as staging:
            with ExitStack() as files:
                rasters = {kind: files.enter_context(open_pixel_raster(kind, staging.path(final), self.grid, names,
                                                                       self.crs)) for kind, final in outputs.items()}

                def write(row0: int, ids: np.ndarray, probabilities: np.ndarray) -> None:
                    for kind, raster in rasters.items():
                        raster.write(row0, pixel_rows(kind, ids, probabilities))

                results = self.pixel_mapper.run(self.grid, self.reader, write, self.keep, progress, canceled)
            staging.commit()
        return results, outputs


def prepare(request: ClassifyRequest) -> ClassifyJob:
    """Validate ``request`` and build the job; raises :class:`GeoSslError` with a clear message."""
    layer = request.layer
    if layer is None or not layer.isValid():
        raise GeoSslError("the input layer is missing or cannot be read")
    check_output_paths(path for path in request.outputs.values() if path is not None)
    crs = layer.crs()
    if not crs.isValid():
        raise GeoSslError(f"the layer {layer.name()!r} has no coordinate reference system: set one "
                          "(Layer Properties > Source) before classifying")
    model = OnnxModel.load(request.model_path)
    meta = model.metadata
    if meta.kind != Kind.IMAGE_CLASSIFIER:
        raise GeoSslError(f"{model.path.name} is a model of kind {meta.kind}; Classify needs an image_classifier model")
    extent = _processing_extent(request)
    plan = read_plan(layer, model, extent, request.resolution_m, request.tile_size, request.bands, request.sensor,
                     request.acquired)
    every_pixel = _every_pixel(request, model)
    grid = _tile_grid(request, plan, every_pixel)
    warnings = plan.warnings + ([model.provider_warning] if model.provider_warning else [])
    if every_pixel:
        warnings += _every_pixel_outputs(request)
    else:
        check_pixel_memory(grid, len(meta.bands), request.batch_size)
    keep = None
    if request.polygons is not None:
        keep = (_pixel_polygon_mask if every_pixel else _polygon_mask)(grid, request.polygons)
    inputs = plan.layer_inputs()
    warnings += inputs.warnings
    prior, to_latlon, exponent = None, None, None
    if LATLON_INPUT in meta.input_names:
        to_latlon = _latlon_function(crs, tile_width=plan.tile_width)
    if request.use_prior:
        prior_path = request.prior_path or find_default_model(Kind.LOCATION_PRIOR, class_names=meta.class_names)
        if prior_path is None:
            raise GeoSslError("no location-prior model is available: choose one or untick 'use location prior'")
        prior = OnnxModel.load(prior_path)
        warnings += [prior.provider_warning] if prior.provider_warning else []
        to_latlon = _latlon_function(crs, tile_width=plan.tile_width)
        area = _outside_training_area(prior, to_latlon, extent)
        if area and request.force_prior:
            warnings.append(f"{area}, so P(y|location) is extrapolated and may dominate the fused result: "
                            "compare with a run without the prior")
        chosen = fusion_exponent(prior.metadata, request.prior_exponent, area is not None, request.force_prior)
        warnings += chosen.notes
        exponent = chosen.value
    classifier = Classifier(model, prior, to_latlon, inputs.transform, request.batch_size,
                            1.0 if exponent is None else exponent, inputs.mapping.band_mask, inputs.month)
    mapper = PixelMapper(classifier, plan.tile_size) if every_pixel else None
    return ClassifyJob(request, model, classifier, grid, keep, inputs.reader, crs, warnings, exponent,
                       plan.notes + inputs.notes, mapper)


def _every_pixel(request: ClassifyRequest, model: OnnxModel) -> bool:
    """Stride 1 with a classifier that says ``dense_pixels`` maps every pixel; stride 1 with another classifier
    on a pixel encoder is refused (one tile per pixel would embed each pixel tile size² times)."""
    if request.stride != 1:
        return False
    meta = model.metadata
    if meta.dense_pixels:
        return True
    if meta.spectral is not None and meta.spectral.consumes == "pixels":
        raise GeoSslError(f"{model.path.name} does not say it can map every pixel (metadata dense_pixels), and one "
                          "tile per pixel would embed every pixel once per tile: retrain it with csp:train_classifier, "
                          "which builds classifiers that map every pixel at stride 1, or choose a stride of 2 px or "
                          "more")
    return False


def _every_pixel_outputs(request: ClassifyRequest) -> list[str]:
    """Maps of every pixel are rasters: the tile polygons (one per pixel) are not written."""
    vector = request.outputs.get(OutputKind.VECTOR) is not None
    rasters = [kind for kind, path in request.outputs.items() if path is not None and kind != OutputKind.VECTOR]
    if vector and not rasters:
        raise GeoSslError("a map of every pixel (stride 1) is written as class and probability rasters, not as tile "
                          "polygons (one per pixel): choose a class or probability raster output")
    if vector:
        return ["stride 1 maps every pixel: the class and probability rasters are written, the tile polygons "
                "(one per pixel) are not"]
    return []


def _tile_grid(request: ClassifyRequest, plan: ReadPlan, every_pixel: bool = False) -> TileGrid:
    """The grid of the plan's tiles over its extent, ``request.stride`` (or the overlap) apart; ``every_pixel``:
    the pixel grid (1 px cells; no tile limit, as a map of every pixel holds one strip at a time)."""
    overlap = plan.model.metadata.overlap if request.overlap is None else request.overlap
    if request.stride is not None:
        if not 1 <= request.stride <= plan.tile_size:
            raise GeoSslError(f"the stride must lie between 1 px and the tile size ({plan.tile_size} px), got "
                              f"{request.stride}")
        overlap = 1 - request.stride / plan.tile_size
    extent = plan.extent
    area = Extent(extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())
    if every_pixel:
        return TileGrid.cover(area, plan.res_x, plan.res_y, 1, 0.0)
    grid = TileGrid.cover(area, plan.res_x, plan.res_y, plan.tile_size, overlap)
    if request.max_tiles is not None:
        grid.check_tile_count(request.max_tiles)
    return grid


def _processing_extent(request: ClassifyRequest) -> QgsRectangle:
    layer_extent = request.layer.extent()
    if request.polygons is not None:
        if request.polygons.isEmpty():
            raise ExtentError("the polygon layer has no (selected) polygons to classify")
        extent = request.polygons.boundingBox()
    else:
        extent = request.extent if request.extent is not None else layer_extent
    if extent.isNull() or extent.isEmpty():
        raise ExtentError("the processing extent is empty")
    clipped = extent.intersect(layer_extent)
    if clipped.isNull() or clipped.isEmpty():
        raise ExtentError(f"the processing extent does not overlap the layer {request.layer.name()!r}")
    return clipped


def _polygon_mask(grid: TileGrid, polygons: QgsGeometry) -> np.ndarray:
    """True for tiles that intersect ``polygons``."""
    engine = QgsGeometry.createGeometryEngine(polygons.constGet())
    engine.prepareGeometry()
    keep = np.zeros(grid.n_tiles, dtype=bool)
    for index in range(grid.n_tiles):
        e = grid.tile_extent(index)
        tile = QgsGeometry.fromRect(QgsRectangle(e.xmin, e.ymin, e.xmax, e.ymax))  # kept alive for constGet
        keep[index] = engine.intersects(tile.constGet())
    if not keep.any():
        raise ExtentError("no tile intersects the chosen polygons")
    return keep


def _pixel_polygon_mask(grid: TileGrid, polygons: QgsGeometry) -> np.ndarray:
    """True for the pixels of a pixel grid that touch ``polygons`` (GDAL rasterisation, all touched)."""
    raster = gdal.GetDriverByName("MEM").Create("", grid.n_cols, grid.n_rows, 1, gdal.GDT_Byte)
    raster.SetGeoTransform(grid.cell_geotransform())
    source = (ogr.GetDriverByName("MEM") or ogr.GetDriverByName("Memory")).CreateDataSource("")  # GDAL >= 3.11, older
    layer = source.CreateLayer("polygons")
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkb(bytes(polygons.asWkb())))
    layer.CreateFeature(feature)
    gdal.RasterizeLayer(raster, [1], layer, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
    keep = raster.GetRasterBand(1).ReadAsArray().astype(bool).ravel()
    if not keep.any():
        raise ExtentError("no pixel intersects the chosen polygons")
    return keep


def _outside_training_area(prior: OnnxModel, to_latlon, extent: QgsRectangle) -> str | None:
    """When the extent reaches outside the area the prior was trained on (bounds in its metadata), a
    sentence saying so; else None (also for priors that record no bounds)."""
    bounds = prior.metadata.training.get("latlon_bounds")
    if not bounds:
        return None
    xs = np.array([extent.xMinimum(), extent.xMaximum(), extent.xMinimum(), extent.xMaximum(), extent.center().x()])
    ys = np.array([extent.yMinimum(), extent.yMinimum(), extent.yMaximum(), extent.yMaximum(), extent.center().y()])
    if fraction_outside(to_latlon(xs, ys), bounds) == 0.0:
        return None
    (lat_lo, lat_hi), (lon_lo, lon_hi) = bounds["lat"], bounds["lon"]
    return (f"the location prior {prior.metadata.name!r} was trained on places within lat {lat_lo:.0f}..{lat_hi:.0f}, "
            f"lon {lon_lo:.0f}..{lon_hi:.0f}; this extent lies outside")


def _latlon_function(crs: QgsCoordinateReferenceSystem,
                     tile_width: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Tile centres in the layer CRS → (lat, lon) degrees (vectorised PROJ, as for the heatmaps)."""
    cells_to_latlon = cell_to_latlon(crs, tile_width)

    def to_latlon(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        latlon, valid = cells_to_latlon(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
        if not valid.all():
            row = int(np.argmin(valid))
            raise GeoSslError(f"the tile centre ({xs[row]:.6g}, {ys[row]:.6g}) in {crs.authid() or 'the layer CRS'} "
                              "has no place on Earth: the location prior cannot be used for this extent")
        return latlon

    return to_latlon


OUTPUT_NOUNS = {OutputKind.VECTOR: "tiles", OutputKind.CLASSES: "classes", OutputKind.PROBABILITY: "probability"}


def output_layer_name(layer_name: str, model_name: str, kind: OutputKind) -> str:
    """What a result layer shows, from which layer and model: "LC08_… — EuroSAT RGB classes"."""
    model = re.sub(r"\s*\([^()]*\)$", "", model_name.strip())  # "(10 classes)", "(Galileo nano + logistic head)"
    model = re.sub(r"\s+(image\s+)?classifier$", "", model, flags=re.IGNORECASE)
    return f"{layer_name} — {model or model_name} {OUTPUT_NOUNS[kind]}"


def load_outputs(job: ClassifyJob, written: dict[str, Path]) -> list[QgsMapLayer]:
    """Open and style the written files (not yet added to a project)."""
    meta = job.model.metadata
    base = job.request.layer.name()
    loaders = {
        OutputKind.VECTOR: lambda p, name: load_tile_vector(p, name, meta.class_names, meta.class_colors),
        OutputKind.CLASSES: lambda p, name: load_class_raster(p, name, meta.class_names, meta.class_colors),
        OutputKind.PROBABILITY: load_probability_raster,
    }
    return [loaders[kind](path, output_layer_name(base, meta.name, kind)) for kind, path in written.items()]
