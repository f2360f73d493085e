"""Tile grid over a processing extent: tile bounds, centres, row strips and pixel windows.

Pixel rows run north to south: row 0 is the top of the extent. A grid covers the extent with
tiles of ``tile_size`` px spaced ``stride`` px apart; the last row/column may run past the
extent (those pixels read as nodata). Pure numpy, no QGIS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError

METRES_PER_DEGREE = 111_320.0
MAX_TILES = 250_000


class ExtentError(GeoSslError):
    """The processing extent is empty or does not overlap the layer."""


class TooManyTilesError(GeoSslError):
    """The grid would hold more tiles than the configured limit (``n_tiles`` says how many)."""

    def __init__(self, message: str, n_tiles: int) -> None:
        super().__init__(message)
        self.n_tiles = n_tiles


@dataclass(frozen=True)
class Extent:
    """Axis-aligned rectangle in the layer CRS."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def is_empty(self) -> bool:
        return not (self.width > 0 and self.height > 0) or not all(
            math.isfinite(v) for v in (self.xmin, self.ymin, self.xmax, self.ymax))


@dataclass(frozen=True)
class Strip:
    """One row of tiles read as a single block: its extent and pixel size."""

    row: int
    extent: Extent
    width: int
    height: int


@dataclass(frozen=True)
class TileGrid:
    """Regular grid of square tiles; ``res_x``/``res_y`` are layer units per pixel (positive)."""

    xmin: float
    ymax: float
    res_x: float
    res_y: float
    tile_size: int
    stride: int
    n_cols: int
    n_rows: int

    @classmethod
    def cover(cls, extent: Extent, res_x: float, res_y: float, tile_size: int, overlap: float) -> TileGrid:
        """The smallest grid anchored at the extent's top-left corner that covers ``extent``."""
        if extent.is_empty:
            raise ExtentError("the processing extent is empty")
        if not (res_x > 0 and res_y > 0):
            raise GeoSslError(f"resolution must be positive, got {res_x:g} x {res_y:g}")
        if tile_size < 1:
            raise GeoSslError(f"tile size must be at least 1 px, got {tile_size}")
        if not 0 <= overlap < 1:
            raise GeoSslError(f"overlap must be a fraction in [0, 1), got {overlap:g}")
        stride = max(1, round(tile_size * (1 - overlap)))
        n_cols = _count(extent.width / res_x, tile_size, stride)
        n_rows = _count(extent.height / res_y, tile_size, stride)
        return cls(extent.xmin, extent.ymax, res_x, res_y, tile_size, stride, n_cols, n_rows)

    @property
    def n_tiles(self) -> int:
        return self.n_cols * self.n_rows

    @property
    def strip_width(self) -> int:
        return (self.n_cols - 1) * self.stride + self.tile_size

    def check_tile_count(self, max_tiles: int) -> None:
        if self.n_tiles > max_tiles:
            raise TooManyTilesError(
                f"{self.n_tiles:,} tiles ({self.n_cols:,} x {self.n_rows:,}) exceed the limit of "
                f"{max_tiles:,}: use a smaller extent, a coarser resolution or a larger limit", self.n_tiles)

    def strip(self, row: int) -> Strip:
        top = self.ymax - row * self.stride * self.res_y
        extent = Extent(self.xmin, top - self.tile_size * self.res_y,
                        self.xmin + self.strip_width * self.res_x, top)
        return Strip(row, extent, self.strip_width, self.tile_size)

    def tile_extent(self, index: int) -> Extent:
        row, col = divmod(index, self.n_cols)
        x0 = self.xmin + col * self.stride * self.res_x
        y1 = self.ymax - row * self.stride * self.res_y
        return Extent(x0, y1 - self.tile_size * self.res_y, x0 + self.tile_size * self.res_x, y1)

    def centres(self, indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x, y of tile centres (row-major tile indices; all tiles by default)."""
        idx = np.arange(self.n_tiles) if indices is None else np.asarray(indices)
        row, col = np.divmod(idx, self.n_cols)
        half = self.tile_size / 2
        return (self.xmin + (col * self.stride + half) * self.res_x,
                self.ymax - (row * self.stride + half) * self.res_y)

    def cell_geotransform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL geotransform of a raster with one cell per tile, each cell ``stride`` px wide and
        centred on its tile (cells tile the plane even when tiles overlap)."""
        pad = (self.tile_size - self.stride) / 2
        return (self.xmin + pad * self.res_x, self.stride * self.res_x, 0.0,
                self.ymax - pad * self.res_y, 0.0, -self.stride * self.res_y)


def _count(size_px: float, tile_size: int, stride: int) -> int:
    size = math.ceil(size_px - 1e-6)
    return 1 if size <= tile_size else math.ceil((size - tile_size) / stride) + 1


def pixel_window(strip: Strip, layer: Extent) -> tuple[int, int, int, int] | None:
    """Columns ``c0:c1`` and rows ``r0:r1`` of ``strip`` whose pixel centres fall inside ``layer``."""
    res_x = strip.extent.width / strip.width
    res_y = strip.extent.height / strip.height
    c0 = max(0, math.ceil((layer.xmin - strip.extent.xmin) / res_x - 0.5))
    c1 = min(strip.width, math.ceil((layer.xmax - strip.extent.xmin) / res_x - 0.5))
    r0 = max(0, math.ceil((strip.extent.ymax - layer.ymax) / res_y - 0.5))
    r1 = min(strip.height, math.ceil((strip.extent.ymax - layer.ymin) / res_y - 0.5))
    if c1 <= c0 or r1 <= r0:
        return None
    return c0, c1, r0, r1


def window_extent(strip: Strip, window: tuple[int, int, int, int]) -> Extent:
    """Map extent of a pixel window of ``strip`` (pixel edges, so the provider resamples exactly)."""
    c0, c1, r0, r1 = window
    res_x = strip.extent.width / strip.width
    res_y = strip.extent.height / strip.height
    return Extent(strip.extent.xmin + c0 * res_x, strip.extent.ymax - r1 * res_y,
                  strip.extent.xmin + c1 * res_x, strip.extent.ymax - r0 * res_y)


def resolution_in_layer_units(gsd_m: float, geographic: bool, latitude: float = 0.0,
                              units_per_metre: float = 1.0) -> tuple[float, float]:
    """(res_x, res_y) in layer units for a ground sample distance in metres.

    Geographic layers get degrees at ``latitude`` (x shrinks with cos(latitude)) so pixels stay
    about ``gsd_m`` metres square on the ground; projected ones use ``units_per_metre``.
    """
    if not geographic:
        return gsd_m * units_per_metre, gsd_m * units_per_metre
    cos_lat = max(math.cos(math.radians(latitude)), 0.01)
    return gsd_m / (METRES_PER_DEGREE * cos_lat), gsd_m / METRES_PER_DEGREE


def layer_resolution_m(res_x: float, res_y: float, geographic: bool, latitude: float = 0.0,
                       units_per_metre: float = 1.0) -> float:
    """Mean pixel size of a layer in metres (degrees converted at ``latitude``)."""
    if geographic:
        return (res_x * METRES_PER_DEGREE * max(math.cos(math.radians(latitude)), 0.01)
                + res_y * METRES_PER_DEGREE) / 2
    return (res_x + res_y) / 2 / units_per_metre


def default_resolution(layer_m: float | None, model_m: float, factor: float = 2.0) -> float:
    """The layer's own pixel size when it lies within ``factor`` of the model's (no needless resampling),
    else the model's (or the model's when the layer's is unknown, e.g. a web service)."""
    if layer_m is not None and layer_m > 0 and 1 / factor <= layer_m / model_m <= factor:
        return layer_m
    return model_m


def resampling_factor(layer_m: float, target_m: float) -> tuple[str, float]:
    """("upsampled" | "downsampled", factor ≥ 1) of resampling ``layer_m`` pixels to ``target_m``."""
    ratio = layer_m / target_m
    return ("upsampled" if ratio > 1 else "downsampled"), max(ratio, 1 / ratio)


def resolution_warning(layer_m: float, target_m: float, model_m: float, factor: float = 2.0) -> str | None:
    """A sentence when a resolution the user chose (``target_m``) resamples the layer by more than ``factor``
    or shows the model its objects at more than ``factor`` times another scale than in training."""
    way, by = resampling_factor(layer_m, target_m)
    if by > factor:
        return (f"the layer's pixel size ({layer_m:.3g} m) differs a lot from the chosen resolution "
                f"({target_m:.3g} m): the raster is {way} by {by:.1f}x, predictions may be poor")
    scale = max(target_m / model_m, model_m / target_m)
    if scale > factor:
        size = "smaller" if target_m > model_m else "larger"
        return (f"the model was trained at {model_m:.3g} m per pixel: at {target_m:.3g} m it sees objects "
                f"{scale:.1f}x {size} than in training, predictions may be poor")
    return None
