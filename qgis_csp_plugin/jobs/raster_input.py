"""How a job reads a raster layer through a model: one read plan for Classify, train_classifier and any
job that reads a raster, so that training and Classify see the same pixels.

:func:`read_plan` (no pixel read) works out the pixel size in layer units for a ground resolution (the
layer's own when within 2x of the model's, else the model's; converted with the CRS's local ground scale,
so Web Mercator and polar tiles cover the same ground as UTM ones) and the tile size;
:meth:`ReadPlan.layer_inputs` then samples the layer for the band mapping (bands the layer lacks masked), the
pixel reader, the radiometric transform and the acquisition month, with the lines that say which was
chosen and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsRasterLayer, QgsRectangle, QgsUnitTypes

from ..contract.errors import GeoSslError
from ..contract.onnx_model import OnnxModel
from ..contract.radiometry import BandTransform, layer_radiometry, sample_shape
from ..contract.schema import MONTH_INPUT, ModelMetadata
from ..core.acquisition_date import acquisition_month
from ..core.band_mapping import MISSING, BandChoice, BandMapping, band_mapping
from ..core.classify import ModelBandReader, PixelReader
from ..core.tiling import (
    Extent,
    default_resolution,
    layer_resolution_m,
    resampling_factor,
    resolution_in_layer_units,
    resolution_warning,
)
from ..qgis_io.ground_scale import ground_units_per_metre
from ..qgis_io.layer_facts import data_kind, date_sources, file_name
from ..qgis_io.provider_reader import ProviderReader, band_labels

SCALE_TOLERANCE = 0.01  # UTM and national grids (scale within 1 %) keep their nominal metres


@dataclass
class LayerInputs:
    """A model's view of a layer."""

    mapping: BandMapping
    reader: PixelReader
    transform: BandTransform | None
    month: int | None
    notes: list[str] = field(default_factory=list)  # what was chosen (bands, radiometry, month)
    warnings: list[str] = field(default_factory=list)


def layer_inputs(layer: QgsRasterLayer, meta: ModelMetadata, extent: QgsRectangle, bands: BandChoice | None = None,
                 sensor: str | None = None, acquired: date | None = None) -> LayerInputs:
    """Map the bands, open the reader, sample the layer over ``extent`` for the radiometry, find the month.
    Raises :class:`~..contract.errors.GeoSslError` (band mapping, unreadable file, constant bands)."""
    labels, name = band_labels(layer), file_name(layer)
    mapping = band_mapping(meta, labels, bands, name, sensor)
    read = mapping.read_bands
    positions = [i for i, band in enumerate(read) if band != MISSING]
    provider = ProviderReader(layer.dataProvider().clone(), [read[i] for i in positions], layer.name())
    reader = provider if len(positions) == len(read) else ModelBandReader(provider, positions, len(read))
    values = sample_values(reader, extent)  # also the first read: a damaged file fails here
    radiometry = layer_radiometry(values, meta.normalization, mapping.band_mask == 0, data_kind(layer), name, labels)
    notes = [mapping.describe()] + ([f"radiometry: {radiometry.note}"] if radiometry.note else [])
    warnings = list(mapping.notes) + ([radiometry.warning] if radiometry.warning else [])
    month = None
    if MONTH_INPUT in meta.input_names:
        month, how = acquisition_month(acquired, date_sources(layer))
        notes.append(f"acquisition {how}")
    return LayerInputs(mapping, reader, radiometry.transform, month, notes, warnings)


def sample_values(reader: PixelReader, extent: QgsRectangle) -> np.ndarray:
    """``(C, N)`` valid pixel values of one block of about STATISTICS_SAMPLE pixels resampled over ``extent``
    (read through the reader, so a corrupt file is reported as a read error, never as constant bands)."""
    width, height = sample_shape(extent.width(), extent.height())
    pixels, valid = reader.read(Extent(extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
                                width, height)
    return pixels[:, valid]


@dataclass
class ReadPlan:
    """How ``model`` reads ``layer`` over ``extent`` (layer CRS): pixels of ``res_x`` x ``res_y`` layer units
    (``resolution_m`` ground metres) in tiles of ``tile_size`` px."""

    layer: QgsRasterLayer
    model: OnnxModel
    extent: QgsRectangle
    res_x: float
    res_y: float
    resolution_m: float
    tile_size: int
    bands: BandChoice | None = None
    sensor: str | None = None
    acquired: date | None = None
    notes: list[str] = field(default_factory=list)  # the default resolution and why
    warnings: list[str] = field(default_factory=list)  # a chosen resolution far from the layer's or the model's

    @property
    def tile_width(self) -> float:
        """A tile's width in layer units."""
        return self.res_x * self.tile_size

    def layer_inputs(self) -> LayerInputs:
        """The band mapping, reader, radiometry and month (samples the layer: the first pixel read)."""
        return layer_inputs(self.layer, self.model.metadata, self.extent, self.bands, self.sensor, self.acquired)


def read_plan(layer: QgsRasterLayer, model: OnnxModel, extent: QgsRectangle, resolution_m: float | None = None,
              tile_size: int | None = None, bands: BandChoice | None = None, sensor: str | None = None,
              acquired: date | None = None) -> ReadPlan:
    """The plan for reading ``layer`` over ``extent`` at ``resolution_m`` ground metres (default: the layer's
    own within 2x of the model's, else the model's) in tiles of ``tile_size`` px (default: the model's);
    raises :class:`GeoSslError` for a tile size the model cannot take."""
    meta = model.metadata
    crs = layer.crs()
    geographic = crs.isGeographic()
    latitude = extent.center().y() if geographic else 0.0
    units_per_metre = 1.0 if geographic else units_per_ground_metre(crs, extent)
    own_m = layer_resolution(layer, extent)
    target_m = resolution_m or default_resolution(own_m, meta.gsd_m)
    res_x, res_y = resolution_in_layer_units(target_m, geographic, latitude, units_per_metre)
    size = tile_size or meta.tile_size
    if size != meta.tile_size:
        _check_fixed_tile_size(model, size)
        check_patch_multiple(meta, size)
    warnings, notes = [], []
    if own_m is not None and resolution_m:
        warning = resolution_warning(own_m, target_m, meta.gsd_m)
        warnings += [warning] if warning else []
    elif own_m is not None and abs(own_m - target_m) > 1e-9 * target_m:
        way, by = resampling_factor(own_m, target_m)
        notes.append(f"the layer's {own_m:.3g} m pixels are {way} {by:.1f}x to the model's {target_m:.3g} m, the "
                     "resolution it was trained at (a layer within 2x of it keeps its own resolution)")
    return ReadPlan(layer, model, extent, res_x, res_y, target_m, size, bands, sensor, acquired, notes, warnings)


def units_per_ground_metre(crs: QgsCoordinateReferenceSystem, extent: QgsRectangle) -> float:
    """Projected CRS units per metre on the ground: the nominal unit factor, or the local scale
    factor where the projection stretches distances by more than 1 % (Web Mercator, polar)."""
    nominal = QgsUnitTypes.fromUnitToUnitFactor(Qgis.DistanceUnit.Meters, crs.mapUnits())
    ground = ground_units_per_metre(crs, extent)
    return ground if ground is not None and abs(ground / nominal - 1) > SCALE_TOLERANCE else nominal


def layer_resolution(layer: QgsRasterLayer, extent: QgsRectangle | None = None) -> float | None:
    """The layer's own mean pixel size in ground metres around ``extent`` (default: the layer's);
    ``None`` for layers without a native pixel size (web services)."""
    if not layer.dataProvider().capabilities() & Qgis.RasterInterfaceCapability.Size:
        return None
    extent = extent or layer.extent()
    crs = layer.crs()
    geographic = crs.isGeographic()
    return layer_resolution_m(layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY(), geographic,
                              extent.center().y() if geographic else 0.0,
                              1.0 if geographic else units_per_ground_metre(crs, extent))


def default_resolution_m(layer: QgsRasterLayer | None, model_m: float) -> float:
    """The default resolution of :func:`read_plan` (see :func:`~..core.tiling.default_resolution`) for ``layer``."""
    return default_resolution(layer_resolution(layer) if layer is not None else None, model_m)


def check_patch_multiple(meta: ModelMetadata, tile_size: int) -> None:
    """Tile encoders cut tiles into patches: the tile size must be a multiple of the patch size."""
    patch = meta.spectral.patch_size if meta.spectral is not None else None
    if patch and tile_size % patch:
        raise GeoSslError(f"{meta.name} cuts tiles into {patch} px patches: choose a tile size that is a multiple of "
                          f"{patch} px, not {tile_size}")


def _check_fixed_tile_size(model: OnnxModel, tile_size: int) -> None:
    """Models exported with a fixed spatial size accept no other tile size."""
    fixed = model.graph_tile_size
    if fixed is not None and fixed != tile_size:
        raise GeoSslError(f"{model.path.name} only accepts {fixed} px tiles, not {tile_size}")
