"""Render the README "Classify layer" image: the real Landsat scene under its classified tiles.

Runs the plugin's own runner (ClassifyRequest → GeoPackage → categorized layer) in a headless QGIS
and draws it with QgsMapRendererParallelJob into docs/img/classify_landsat.png. Model: the default
RGB image classifier in models/ unless given.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render_classify_docs.py [--model RGB.onnx] [--size 800]
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

from qgis.core import QgsApplication, QgsRasterLayer  # noqa: E402

from qgis_csp_plugin.core.onnx_model import find_default_model  # noqa: E402
from qgis_csp_plugin.ui.classify_job import ClassifyRequest, execute, load_outputs, prepare  # noqa: E402
from qgis_csp_plugin.ui.render import render_layers_png  # noqa: E402

SCENE = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
PNG = REPO / "docs" / "img" / "classify_landsat.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--size", type=int, default=800)
    args = parser.parse_args()
    app = QgsApplication([], False)
    app.initQgis()
    model = args.model or find_default_model("image_classifier", prefer="rgb")
    if model is None:
        sys.exit("no --model given and no default RGB image classifier in models/")
    with tempfile.TemporaryDirectory() as tmp:
        scene = QgsRasterLayer(str(SCENE), "Landsat 8")
        job = prepare(ClassifyRequest(scene, model, {"vector": Path(tmp) / "tiles.gpkg"}))
        (tiles,) = load_outputs(job, execute(job)[1])
        tiles.setOpacity(0.6)
        print(render_layers_png([tiles, scene], scene.extent(), PNG, (args.size, args.size)))
        del tiles, scene  # close the GeoPackage before its folder goes
    app.exitQgis()


if __name__ == "__main__":
    main()
