"""Render location-embedding heatmaps of several encoders side by side, same projection and colour mapping.

Each model goes through the plugin's embedding heatmap (``qgis_csp_plugin.core.heatmap``: cell
centres → (lat, lon) → ONNX → the PCA basis stored in the model, its 1st–99th percentiles → bytes
1..255) on the same grid, then to PNG (off-Earth corners transparent).

    .venv/bin/python scripts/render_embedding_maps.py models/csp_location_encoder.onnx \\
        models/geoclip_location_encoder.onnx --out docs/img --crs EPSG:8857 --width 1024
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from osgeo import gdal, osr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qgis_csp_plugin.contract.onnx_model import OnnxModel  # noqa: E402
from qgis_csp_plugin.core.cell_latlon import latlon_transform  # noqa: E402
from qgis_csp_plugin.core.grid import CellGrid  # noqa: E402
from qgis_csp_plugin.core.heatmap import LocationHeatmap  # noqa: E402
from qgis_csp_plugin.core.tiling import Extent  # noqa: E402

#: The world in each supported CRS (projected metres or degrees).
WORLD = {"EPSG:8857": Extent(-17_243_959, -8_392_928, 17_243_959, 8_392_928),
         "EPSG:4326": Extent(-180, -90, 180, 90)}


def render(model_path: Path, out_png: Path, crs: str, width: int) -> None:
    """One model's embedding map on the world grid of ``crs``, written as an RGBA PNG."""
    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    extent = WORLD[crs]
    grid = CellGrid.from_shape(extent, width, round(width * extent.height / extent.width))
    to_latlon = latlon_transform(srs.ExportToWkt(), 0.01 * grid.cell_w)
    with tempfile.TemporaryDirectory() as tmp:
        tif = Path(tmp) / "map.tif"
        LocationHeatmap(OnnxModel.load(model_path), to_latlon).embedding(grid, tif, srs.ExportToWkt())
        gdal.Translate(str(out_png), str(tif), format="PNG", options=["-b", "1", "-b", "2", "-b", "3", "-b", "mask"])
    Path(f"{out_png}.aux.xml").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="location_encoder ONNX models")
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="folder of the PNGs")
    parser.add_argument("--crs", choices=sorted(WORLD), default="EPSG:8857")
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    gdal.UseExceptions()
    for model in args.models:
        png = args.out / f"embedding_{model.stem}.png"
        render(model, png, args.crs, args.width)
        print(f"wrote {png}")


if __name__ == "__main__":
    main()
