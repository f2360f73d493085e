"""Big real rasters for streaming tests and benchmarks: VRT mosaics of a real GeoTIFF (no pixel copies)."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from osgeo import gdal


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
