"""Pixels of any QGIS raster layer (GeoTIFF, VRT, WMS/XYZ…) read through its data provider."""

from __future__ import annotations

import numpy as np
from qgis.core import Qgis, QgsRasterDataProvider, QgsRasterLayer, QgsRectangle

from ..contract.errors import GeoSslError
from ..core.tiling import Extent

DTYPES = {Qgis.DataType.Byte: np.uint8, Qgis.DataType.UInt16: np.uint16, Qgis.DataType.Int16: np.int16,
          Qgis.DataType.UInt32: np.uint32, Qgis.DataType.Int32: np.int32, Qgis.DataType.Float32: np.float32,
          Qgis.DataType.Float64: np.float64}
COLOR_TYPES = (Qgis.DataType.ARGB32, Qgis.DataType.ARGB32_Premultiplied)  # WMS, XYZ and other rendered-image providers
COLOR_BANDS = ("red", "green", "blue")

def band_labels(layer: QgsRasterLayer) -> list[str]:
    """One label per usable band (name, description, colour); image providers give red, green, blue."""
    provider = layer.dataProvider()
    if provider.dataType(1) in COLOR_TYPES:
        return list(COLOR_BANDS)
    return [f"{provider.generateBandName(b)} {provider.displayBandName(b)} {provider.colorInterpretationName(b)}"
            for b in range(1, layer.bandCount() + 1)]


class ReadError(GeoSslError):
    """Pixels of the input layer could not be read (corrupt or truncated file, lost connection)."""


class ProviderReader:
    """Reads mapped bands through (a clone of) the layer's raster data provider, resampled by it.

    Image providers (WMS, XYZ) deliver one ARGB32 band: it is split into red, green, blue
    (bands 1-3) and fully transparent pixels are nodata.
    """

    def __init__(self, provider: QgsRasterDataProvider, bands: list[int], name: str = "the layer") -> None:
        self.provider = provider
        self.bands = bands
        self.name = name
        e = provider.extent()
        self.extent = Extent(e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum())
        self.color = provider.dataType(1) in COLOR_TYPES
        if self.color:
            return
        self.dtypes = []
        for band in bands:
            if provider.dataType(band) not in DTYPES:
                raise GeoSslError(f"band {band} has an unsupported data type ({provider.dataType(band)})")
            self.dtypes.append(DTYPES[provider.dataType(band)])
        self.nodata = [provider.sourceNoDataValue(b)
                       if provider.sourceHasNoDataValue(b) and provider.useSourceNoDataValue(b) else None
                       for b in bands]

    def read(self, extent: Extent, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        rect = QgsRectangle(extent.xmin, extent.ymin, extent.xmax, extent.ymax)
        if self.color:
            return self._read_color(rect, width, height)
        pixels = np.empty((len(self.bands), height, width), dtype=np.float32)
        valid = np.ones((height, width), dtype=bool)
        for i, (band, dtype, nodata) in enumerate(zip(self.bands, self.dtypes, self.nodata)):
            values = self._block_values(band, rect, width, height, dtype)
            pixels[i] = values
            if nodata is not None:
                valid &= values != nodata
            if values.dtype.kind == "f":
                valid &= np.isfinite(values)
        return pixels, valid

    def _read_color(self, rect: QgsRectangle, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        argb = self._block_values(1, rect, width, height, np.uint32)
        shifts = {1: 16, 2: 8, 3: 0}  # 0xAARRGGBB
        pixels = np.stack([(argb >> shifts[b]) & 0xFF for b in self.bands]).astype(np.float32)
        return pixels, (argb >> 24) > 0

    def _block_values(self, band: int, rect: QgsRectangle, width: int, height: int, dtype) -> np.ndarray:
        block = self.provider.block(band, rect, width, height)
        data = bytes(block.data()) if block.isValid() else b""
        if block.width() != width or block.height() != height or len(data) != width * height * np.dtype(dtype).itemsize:
            # never query provider.error() here: on a cloned provider after a failed read it crashes QGIS
            raise ReadError(f"could not read band {band} of {self.name!r} in the block x {rect.xMinimum():.6g}.."
                            f"{rect.xMaximum():.6g}, y {rect.yMinimum():.6g}..{rect.yMaximum():.6g} "
                            f"({width} x {height} px): the file is corrupt, truncated or unreadable")
        return np.frombuffer(data, dtype=dtype).reshape(height, width)
