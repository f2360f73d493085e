"""Tiled classification of a raster read strip by strip: batching, nodata, ONNX, location prior.

The QGIS layer supplies a :class:`PixelReader` (pixels through the raster data provider) and,
for the location prior, a function from tile centres in the layer CRS to (lat, lon) degrees.
Memory holds one strip of tiles, one batch and the per-tile probabilities, never the raster.

Nodata: pixels outside the layer or equal to a band's nodata value are invalid. A tile with no
valid pixel is *skipped* (not sent to the model): its probabilities are NaN and its
``valid_fraction`` is 0. In partly valid tiles the invalid pixels get the mean of the tile's
valid pixels of that band.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..contract.errors import GeoSslError
from ..contract.latlon import validate_latlon
from ..contract.onnx_model import OnnxModel
from ..contract.prior_exponent import check_override
from ..contract.probabilities import fuse
from ..contract.radiometry import BandTransform
from ..contract.schema import LATLON_INPUT, MONTH_INPUT, Kind
from .progress import Canceled, IsCanceled, Progress
from .tiling import Extent, Strip, TileGrid, pixel_window, window_extent

MAX_PIXEL_BYTES = 2 * 1024 ** 3  # float32 pixels held at once: one strip (read + validity) and one batch


def check_pixel_memory(grid: TileGrid, n_bands: int, batch_size: int, limit: int = MAX_PIXEL_BYTES) -> None:
    """Refuse tile and batch sizes whose pixel buffers would not fit ``limit`` bytes (instead of
    failing deep inside numpy with "Unable to allocate ... TiB")."""
    strip = n_bands * grid.tile_size * grid.strip_width * 4 * 2
    batch = batch_size * n_bands * grid.tile_size ** 2 * 4
    if strip + batch > limit:
        raise GeoSslError(f"tile size {grid.tile_size} px with batch size {batch_size} needs "
                          f"{(strip + batch) / 1024 ** 3:,.1f} GiB for pixels (one strip of {grid.strip_width:,} px "
                          f"and one batch), more than the {limit / 1024 ** 3:.0f} GiB allowed: use a smaller tile "
                          "size, batch size or extent")


class PixelReader(Protocol):
    """Reads the mapped bands of a layer resampled to a pixel grid."""

    @property
    def extent(self) -> Extent:
        """The layer's extent in its CRS."""

    def read(self, extent: Extent, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``(C, height, width)`` pixels and bool ``(height, width)`` validity."""


@dataclass
class TileResults:
    """Per-tile probabilities of the processed tiles (row-major grid ``indices``)."""

    grid: TileGrid
    class_names: list[str]
    indices: np.ndarray
    probabilities: np.ndarray
    valid_fraction: np.ndarray

    @property
    def skipped(self) -> np.ndarray:
        return self.valid_fraction == 0

    @property
    def class_ids(self) -> np.ndarray:
        ids = np.argmax(np.nan_to_num(self.probabilities, nan=-1.0), axis=1).astype(np.int32)
        ids[self.skipped] = -1
        return ids

    @property
    def what(self) -> str:
        return f"{len(self.indices):,} tiles of {self.grid.tile_size} px"

    @property
    def summary(self) -> str:
        return f"classified {len(self.indices):,} tiles, {int(self.skipped.sum()):,} all-nodata tiles skipped"


def read_strip(reader: PixelReader, strip: Strip, n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a strip; the part outside the layer is invalid and never requested."""
    pixels = np.zeros((n_bands, strip.height, strip.width), dtype=np.float32)
    valid = np.zeros((strip.height, strip.width), dtype=bool)
    window = pixel_window(strip, reader.extent)
    if window is not None:
        c0, c1, r0, r1 = window
        data, ok = reader.read(window_extent(strip, window), c1 - c0, r1 - r0)
        pixels[:, r0:r1, c0:c1] = data
        valid[r0:r1, c0:c1] = ok
    return pixels, valid


class ModelBandReader:
    """The layer bands a model reads, placed at their model band positions; the other (masked) model
    bands read as 0. ``positions``: the model band index of each band ``reader`` delivers."""

    def __init__(self, reader: PixelReader, positions: list[int], n_bands: int) -> None:
        self.reader, self.positions, self.n_bands = reader, list(positions), n_bands

    @property
    def extent(self) -> Extent:
        return self.reader.extent

    def read(self, extent: Extent, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        data, valid = self.reader.read(extent, width, height)
        pixels = np.zeros((self.n_bands, height, width), dtype=np.float32)
        pixels[self.positions] = data
        return pixels, valid


def fill_invalid(tile: np.ndarray, valid: np.ndarray) -> None:
    """Replace invalid pixels of a ``(C, H, W)`` tile by the band means of its valid pixels."""
    means = tile[:, valid].mean(axis=1)
    tile[:, ~valid] = means[:, None]


class Classifier:
    """Runs an image model (optionally fused with a location prior) over a tile grid."""

    def __init__(self, model: OnnxModel, prior: OnnxModel | None = None,
                 to_latlon: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 transform: BandTransform | None = None, batch_size: int = 16,
                 prior_exponent: float = 1.0, band_mask: np.ndarray | None = None, month: int | None = None) -> None:
        """``prior_exponent``: α in P(y | image) · P(y | location)^α
        (see :mod:`qgis_csp_plugin.contract.prior_exponent`). Models with extra inputs (schema v3) get
        ``band_mask`` (1 = masked band), the tile centres' (lat, lon) through ``to_latlon`` and ``month``."""
        meta = model.metadata
        if not meta.has_image_input or meta.kind != Kind.IMAGE_CLASSIFIER:
            raise GeoSslError(f"{model.path.name} is a model of kind {meta.kind}; Classify needs an image_classifier")
        if prior is not None:
            if prior.metadata.kind != Kind.LOCATION_PRIOR:
                raise GeoSslError(f"{prior.path.name} is a model of kind {prior.metadata.kind}, not a location_prior")
            if prior.metadata.class_names != meta.class_names:
                raise GeoSslError(f"the location prior {prior.metadata.name} predicts other classes than "
                                  f"{meta.name}: they cannot be fused")
            if to_latlon is None:
                raise GeoSslError("a location prior needs the transformation of tile centres to (lat, lon)")
        if LATLON_INPUT in meta.input_names and to_latlon is None:
            raise GeoSslError(f"{model.path.name} takes the (lat, lon) of each tile: give the transformation of tile "
                              "centres to (lat, lon)")
        if MONTH_INPUT in meta.input_names and month is None:
            raise GeoSslError(f"{model.path.name} takes the acquisition month")
        if batch_size < 1:
            raise GeoSslError(f"batch size must be at least 1, got {batch_size}")
        self.band_mask = np.zeros(len(meta.bands), np.float32) if band_mask is None else band_mask
        self.month = month
        self.model, self.prior, self.to_latlon = model, prior, to_latlon
        self.transform, self.batch_size = transform, batch_size
        self.prior_exponent = check_override(prior_exponent)

    def run(self, grid: TileGrid, reader: PixelReader, keep: np.ndarray | None = None,
            progress: Progress | None = None, canceled: IsCanceled | None = None) -> TileResults:
        """Classify every tile of ``grid`` (or those where ``keep`` is true), strip by strip."""
        meta = self.model.metadata
        keep = np.ones(grid.n_tiles, bool) if keep is None else np.asarray(keep, bool)
        indices = np.flatnonzero(keep)
        probabilities = np.full((len(indices), meta.n_classes), np.nan, dtype=np.float32)
        valid_fraction = np.zeros(len(indices), dtype=np.float32)
        position = np.full(grid.n_tiles, -1, dtype=np.int64)
        position[indices] = np.arange(len(indices))
        size, n_bands = grid.tile_size, len(meta.bands)
        batch = np.empty((self.batch_size, n_bands, size, size), dtype=np.float32)
        pending: list[int] = []
        rows = np.unique(indices // grid.n_cols)
        for done, row in enumerate(rows):
            if canceled is not None and canceled():
                raise Canceled("classification canceled")
            pixels, valid = read_strip(reader, grid.strip(int(row)), n_bands)
            for col in np.flatnonzero(keep[row * grid.n_cols:(row + 1) * grid.n_cols]):
                x0 = col * grid.stride
                tile_valid = valid[:, x0:x0 + size]
                slot = position[row * grid.n_cols + col]
                fraction = float(tile_valid.mean())
                valid_fraction[slot] = fraction
                if fraction == 0:
                    continue
                tile = batch[len(pending)]
                tile[:] = pixels[:, :, x0:x0 + size]
                if fraction < 1:
                    fill_invalid(tile, tile_valid)
                pending.append(slot)
                if len(pending) == self.batch_size:
                    self._flush(batch, pending, indices, grid, probabilities)
            if progress is not None:
                progress(100.0 * (done + 1) / len(rows))
        self._flush(batch, pending, indices, grid, probabilities)
        return TileResults(grid, list(meta.class_names), indices, probabilities, valid_fraction)

    def _flush(self, batch: np.ndarray, pending: list[int], indices: np.ndarray, grid: TileGrid,
               probabilities: np.ndarray) -> None:
        """Run the model on the filled part of ``batch`` and store the rows of ``pending``."""
        if not pending:
            return
        images = batch[:len(pending)]
        if self.transform is not None:
            self.transform.apply(images)
        latlon = None
        if self.to_latlon is not None:
            xs, ys = grid.centres(indices[pending])
            latlon = validate_latlon(self.to_latlon(xs, ys), "tile centres")
        month = None if self.month is None else np.full(len(pending), self.month, np.int64)
        result = self.model.run(image=images, latlon=latlon, band_mask=self.band_mask, month=month)
        if self.prior is not None:
            result = fuse(result, self.prior.run(latlon=latlon), self.prior_exponent)
        probabilities[pending] = result
        pending.clear()
