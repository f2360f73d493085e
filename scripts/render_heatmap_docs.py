"""Render the README heatmap images: a world location-embedding map and a world class-prior map.

Runs the plugin's own pipeline (HeatmapRequest → GeoTIFF → styled layer) in a headless QGIS and
draws each layer with QgsMapRendererParallelJob into docs/img/. Models: the default models in
models/ unless given.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render_heatmap_docs.py \
        [--encoder ENC.onnx] [--prior PRIOR.onnx] [--prior-class "most likely class"] [--crs EPSG:8857]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsRectangle  # noqa: E402

from qgis_csp_plugin.core.heatmap import CLASS_PRIOR, EMBEDDING, MOST_LIKELY  # noqa: E402
from qgis_csp_plugin.ui.heatmap_job import HeatmapRequest, prepare  # noqa: E402
from qgis_csp_plugin.ui.heatmap_layers import load_heatmap, world_extent  # noqa: E402
from qgis_csp_plugin.ui.render import render_layers_png  # noqa: E402

OUT = REPO / "docs" / "img"


def render_world(kind: str, model: Path | None, choice: str, crs: QgsCoordinateReferenceSystem, width: int,
                 png: Path, folder: Path) -> Path:
    """One world heatmap of ``kind`` rendered to ``png`` (same aspect as the CRS's world extent)."""
    result = prepare(HeatmapRequest(kind, folder / f"{kind}.tif", model, crs=crs, width=width,
                                    choice=choice)).run(None, None)
    layer = load_heatmap(result)
    world = world_extent(crs)
    size = (1000, max(1, round(1000 * world.height / world.width)))
    rect = QgsRectangle(world.xmin, world.ymin, world.xmax, world.ymax)
    render_layers_png([layer], rect, png, size=size, crs=crs)
    print(f"{png}: {result.title}; {'; '.join(result.notes)}")
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", type=Path, help="location encoder (default: models/)")
    parser.add_argument("--prior", type=Path, help="location prior (default: the world prior in models/)")
    parser.add_argument("--prior-class", default=MOST_LIKELY, help="class name, 'most likely class' or 'entropy'")
    parser.add_argument("--crs", default="EPSG:8857", help="map CRS (default Equal Earth)")
    parser.add_argument("--width", type=int, default=1000, help="heatmap width in cells")
    args = parser.parse_args()
    app = QgsApplication([], False)
    app.initQgis()
    crs = QgsCoordinateReferenceSystem(args.crs)
    with tempfile.TemporaryDirectory() as tmp:
        render_world(EMBEDDING, args.encoder, "", crs, args.width, OUT / "heatmap_embedding_world.png", Path(tmp))
        render_world(CLASS_PRIOR, args.prior, args.prior_class, crs, args.width, OUT / "heatmap_prior_world.png",
                     Path(tmp))
    app.exitQgis()


if __name__ == "__main__":
    main()
