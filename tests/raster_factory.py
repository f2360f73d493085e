"""Real rasters for tests and benchmarks: VRT mosaics of a real GeoTIFF (no pixel copies), and a GeoTIFF
read into memory as a pixel reader."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from osgeo import gdal

from qgis_csp_plugin.core.tiling import Extent


def mosaic_vrt(source: Path, path: Path, repeat: int) -> Path:
    """A ``repeat`` x ``repeat`` mosaic of ``source`` as one VRT with a SimpleSource per copy."""
    dataset = gdal.Open(str(source))
    width, height, bands = dataset.RasterXSize, dataset.RasterYSize, dataset.RasterCount
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    data_type = gdal.GetDataTypeName(dataset.GetRasterBand(1).DataType)
    sources = "\n".join(
        f"""<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(source))}</SourceFilename>
<SourceBand>{{band}}</SourceBand><SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>
<DstRect xOff="{col * width}" yOff="{row * height}" xSize="{width}" ySize="{height}"/></SimpleSource>"""
        for row in range(repeat) for col in range(repeat))
    band_xml = "\n".join(
        f'<VRTRasterBand dataType="{data_type}" band="{b}">\n{sources.format(band=b)}\n</VRTRasterBand>'
        for b in range(1, bands + 1))
    path.write_text(f"""<VRTDataset rasterXSize="{width * repeat}" rasterYSize="{height * repeat}">
<SRS>{escape(dataset.GetProjection())}</SRS>
<GeoTransform>{x0}, {dx}, 0, {y0}, 0, {dy}</GeoTransform>
{band_xml}
</VRTDataset>
""")
    return path


class GdalArrayReader:
    """A real raster in memory, resampled nearest-neighbour like a raster provider would."""

    def __init__(self, path, bands: list[int] | None = None):
        """``bands``: the 0-based band indices to read, in this order (default: all)."""
        dataset = gdal.Open(str(path))
        self.pixels = dataset.ReadAsArray().astype(np.float32)
        if bands is not None:
            self.pixels = self.pixels[bands]
        self.nodata = dataset.GetRasterBand(1).GetNoDataValue()
        x0, self.res_x, _, y1, _, res_y = dataset.GetGeoTransform()
        self.res_y = -res_y
        height, width = self.pixels.shape[1:]
        self.extent = Extent(x0, y1 - height * self.res_y, x0 + width * self.res_x, y1)

    def read(self, extent, width, height):
        xs = extent.xmin + (np.arange(width) + 0.5) * extent.width / width
        ys = extent.ymax - (np.arange(height) + 0.5) * extent.height / height
        cols = ((xs - self.extent.xmin) / self.res_x).astype(int)
        rows = ((self.extent.ymax - ys) / self.res_y).astype(int)
        block = self.pixels[:, rows][:, :, cols]
        valid = np.ones(block.shape[1:], bool) if self.nodata is None else (block != self.nodata).all(axis=0)
        return block, valid
