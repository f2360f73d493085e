"""How a model reads a raster layer, shared by Classify and train_classifier: the band mapping (bands
the layer lacks masked), the pixel reader, the radiometric transform and the acquisition month, with
the lines that say which was chosen and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
from qgis.core import QgsRasterLayer, QgsRectangle

from ..contract.radiometry import BandTransform, layer_radiometry, sample_shape
from ..contract.schema import MONTH_INPUT, ModelMetadata
from ..core.acquisition_date import acquisition_month
from ..core.band_mapping import MISSING, BandChoice, BandMapping, band_mapping
from ..core.classify import ModelBandReader, PixelReader
from ..core.tiling import Extent
from ..qgis_io.layer_facts import data_kind, date_sources, file_name
from ..qgis_io.provider_reader import ProviderReader, band_labels


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
    Raises :class:`~..contract.errors.CspError` (band mapping, unreadable file, constant bands)."""
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
