"""End-to-end demo, headless: the default models through the plugin's Processing algorithms.

1. classifies a real Landsat 8 scene (``data/scenes``) with the default RGB classifier alone and fused
   with the EuroSAT location prior (``csp:classify``; the scene lies outside the prior's training area,
   so the prior's α is 0 there), and once more forcing the prior with its stored α, and prints the
   class counts of the three;
2. draws the prediction-probability heatmap of that result (``csp:prediction_heatmap``);
3. draws the world location-embedding map (``csp:location_embedding_heatmap``) and the world
   class-prior maps of the continent prior (``csp:class_prior_heatmap``);
4. writes everything to ``demo_output/``: GeoPackage, GeoTIFFs, ``demo.qgz`` with all layers styled,
   PNG map renders, and prints a summary.

Run it through ``bash scripts/demo.sh`` (sets everything up first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), "/usr/share/qgis/python/plugins"]

from qgis.core import (  # noqa: E402
    QgsCoordinateReferenceSystem,
    QgsFillSymbol,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsVectorLayer,
)

from scripts.headless_qgis import start_qgis  # noqa: E402

SCENE = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
WORLD_MAP = Path("/usr/share/qgis/resources/data/world_map.gpkg")
WORLD = QgsRectangle(-180, -90, 180, 90)


class PrintedFeedback(QgsProcessingFeedback):
    """Processing feedback that shows the algorithms' warnings on the console."""

    def pushWarning(self, warning: str) -> None:  # noqa: N802 (QGIS API name)
        print(f"    warning: {warning}")
        super().pushWarning(warning)


class DemoError(Exception):
    """A step of the demo could not run; the message says what to do."""


def default_models() -> dict[str, Path]:
    """The default models the demo needs, found through the plugin's own lookup."""
    from qgis_csp_plugin.contract.schema import Kind
    from qgis_csp_plugin.core.default_models import find_default_model

    wanted = {
        "rgb classifier": (Kind.IMAGE_CLASSIFIER, "rgb"),
        "EuroSAT location prior": (Kind.LOCATION_PRIOR, "eurosat"),
        "world-region prior": (Kind.LOCATION_PRIOR, "world"),
        "location encoder": (Kind.LOCATION_ENCODER, None),
    }
    found, missing = {}, []
    for label, (kind, prefer) in wanted.items():
        path = find_default_model(kind, prefer=prefer)
        if path is None or (prefer and prefer not in path.stem.lower()):
            missing.append(label)
        else:
            found[label] = path
    if missing:
        raise DemoError(f"default models missing in models/: {', '.join(missing)}; "
                        "run `bash scripts/demo.sh --retrain` to train them (CPU, ~20 min)")
    return found


def run_algorithm(name: str, parameters: dict, outputs: dict[str, Path], project: QgsProject) -> dict:
    """Run ``csp:<name>``; each output in ``outputs`` is written there and loaded, styled, into ``project``."""
    import processing

    context = QgsProcessingContext()
    context.setProject(project)
    feedback = PrintedFeedback()
    for key, path in outputs.items():
        parameters[key] = QgsProcessingOutputLayerDefinition(str(path), project)
    started = time.perf_counter()
    try:
        result = processing.run(f"csp:{name}", parameters, context=context, feedback=feedback)
    except Exception as exc:  # QgsProcessingException carries the algorithm's clear message
        raise DemoError(f"csp:{name} failed: {exc}") from exc
    for location, details in context.layersToLoadOnCompletion().items():
        layer = QgsProcessingUtils.mapLayerFromString(location, context)
        if layer is None:
            raise DemoError(f"csp:{name} wrote {location}, which QGIS cannot open")
        layer.setName(details.name)
        if details.postProcessor() is not None:
            details.postProcessor().postProcessLayer(layer, context, feedback)
        project.addMapLayer(layer)
    print(f"  csp:{name}: {time.perf_counter() - started:.1f} s")
    return result


def layer_named(project: QgsProject, path: Path):
    """The project layer whose source is ``path``."""
    for layer in project.mapLayers().values():
        if Path(layer.source().split("|")[0]) == path:
            return layer
    raise DemoError(f"{path.name} was not loaded into the project")


def background_layers(project: QgsProject) -> tuple[QgsRasterLayer, QgsVectorLayer | None]:
    scene = QgsRasterLayer(str(SCENE), "Landsat 8 scene (RGB)", "gdal")
    if not scene.isValid():
        raise DemoError(f"cannot open {SCENE}")
    project.addMapLayer(scene)
    countries = None
    if WORLD_MAP.is_file():
        countries = QgsVectorLayer(f"{WORLD_MAP}|layername=countries", "Country borders", "ogr")
        countries.renderer().setSymbol(QgsFillSymbol.createSimple(
            {"color": "0,0,0,0", "outline_color": "40,40,40,200", "outline_width": "0.2"}))
        project.addMapLayer(countries)
    return scene, countries


def arrange_project(project: QgsProject, visible: list, first: list, last: list) -> None:
    """Layer order for a user opening demo.qgz: results on top, backgrounds last; only ``visible`` shown."""
    root = project.layerTreeRoot()
    layers = [node.layer() for node in root.findLayers()]
    middle = [layer for layer in layers if layer not in first and layer not in last]
    order = [layer for layer in (*first, *middle, *last) if layer is not None]
    root.setHasCustomLayerOrder(False)
    for index, layer in enumerate(order):
        node = root.findLayer(layer.id())
        clone = node.clone()
        clone.setItemVisibilityChecked(layer in visible)
        root.insertChildNode(index, clone)
        root.removeChildNode(node)


def update_docs_images(out: Path) -> None:
    """Copy the PNG renders to docs/img/, as 8-bit palette PNGs where that is smaller (keeps the repo lean)."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QImage

    docs = REPO / "docs" / "img"
    docs.mkdir(parents=True, exist_ok=True)
    for png in sorted(out.glob("*.png")):
        target = docs / png.name
        image = QImage(str(png)).convertToFormat(QImage.Format_Indexed8, Qt.AutoColor | Qt.DiffuseDither)
        if not image.save(str(target)):
            raise DemoError(f"could not write {target}")
        if target.stat().st_size > png.stat().st_size:  # few-colour maps compress better as they are
            shutil.copy2(png, target)
    print("  PNG renders copied to docs/img/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "demo_output", help="output folder (replaced)")
    parser.add_argument("--retrain", action="store_true", help="(handled by scripts/demo.sh)")
    parser.add_argument("--update-docs", action="store_true", help="copy the PNG renders to docs/img/ (README)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    app = start_qgis()
    try:
        code = run_demo(args.output.resolve(), started)
        if args.update_docs:
            update_docs_images(args.output)
        return code
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        QgsProject.instance().clear()
        app.exitQgis()


def run_demo(out: Path, started: float) -> int:
    from scripts.render import render_layers_png

    models = default_models()
    print("default models:\n" + "\n".join(f"  {label}: {path.name}" for label, path in models.items()))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    project = QgsProject.instance()
    project.clear()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    scene, countries = background_layers(project)

    print(f"classifying {SCENE.name} with the RGB model, alone and fused with the EuroSAT location prior ...")
    tiles = out / "landsat_tiles.gpkg"
    fused_tiles = out / "landsat_tiles_fused.gpkg"
    classify = {"INPUT": str(SCENE), "MODEL": str(models["rgb classifier"])}
    run_algorithm("classify", dict(classify), {"OUTPUT_VECTOR": tiles}, project)
    run_algorithm("classify", {**classify, "USE_LOCATION_PRIOR": True,
                               "PRIOR_MODEL": str(models["EuroSAT location prior"])},
                  {"OUTPUT_VECTOR": fused_tiles, "OUTPUT_CLASSES": out / "landsat_classes_fused.tif",
                   "OUTPUT_PROBABILITY": out / "landsat_probability_fused.tif"}, project)
    tiles_layer, fused_layer = layer_named(project, tiles), layer_named(project, fused_tiles)
    tiles_layer.setName("Landsat tiles: RGB model (image only)")
    fused_layer.setName("Landsat tiles: RGB model x EuroSAT location prior")
    counts = Counter(str(f["class"]) for f in tiles_layer.getFeatures())
    fused_counts = Counter(str(f["class"]) for f in fused_layer.getFeatures())
    forced_tiles = out / "landsat_tiles_forced_prior.gpkg"
    print("  the same, forcing the prior outside its training area (its stored α) ...")
    forced = run_algorithm("classify", {**classify, "USE_LOCATION_PRIOR": True, "FORCE_PRIOR": True,
                                        "PRIOR_MODEL": str(models["EuroSAT location prior"]),
                                        "OUTPUT_VECTOR": str(forced_tiles)}, {}, project)["OUTPUT_VECTOR"]
    forced_counts = Counter(str(f["class"]) for f in QgsVectorLayer(str(forced), "forced", "ogr").getFeatures())

    print("heatmaps ...")
    run_algorithm("prediction_heatmap", {"INPUT": str(fused_tiles), "CLASS": "max probability"},
                  {"OUTPUT": out / "landsat_max_probability.tif"}, project)
    world = {"EXTENT": "-180,180,-90,90 [EPSG:4326]", "CRS": "EPSG:4326", "WIDTH": 1440, "HEIGHT": 720}
    run_algorithm("location_embedding_heatmap", {"MODEL": str(models["location encoder"]), **world},
                  {"OUTPUT": out / "world_location_embedding.tif"}, project)
    run_algorithm("class_prior_heatmap", {"MODEL": str(models["world-region prior"]),
                                          "CLASS": "most likely class", **world},
                  {"OUTPUT": out / "world_prior_most_likely.tif"}, project)
    run_algorithm("class_prior_heatmap", {"MODEL": str(models["world-region prior"]), "CLASS": "Europe", **world},
                  {"OUTPUT": out / "world_prior_europe.tif"}, project)

    print("rendering maps ...")
    overlay = [countries] if countries else []
    scene_extent = scene.extent()
    renders = {
        "classified_landsat.png": ([tiles_layer, scene], scene_extent, scene.crs()),
        "classified_landsat_fused.png": ([fused_layer, scene], scene_extent, scene.crs()),
        "landsat_max_probability.png": ([layer_named(project, out / "landsat_max_probability.tif")],
                                        scene_extent, scene.crs()),
        "world_location_embedding.png": ([*overlay, layer_named(project, out / "world_location_embedding.tif")],
                                         WORLD, None),
        "world_prior_most_likely.png": ([*overlay, layer_named(project, out / "world_prior_most_likely.tif")],
                                        WORLD, None),
        "world_prior_europe.png": ([*overlay, layer_named(project, out / "world_prior_europe.tif")], WORLD, None),
    }
    for layer in (tiles_layer, fused_layer):
        layer.setOpacity(0.6)
    for name, (layers, extent, crs) in renders.items():
        world_map = extent is WORLD
        render_layers_png(layers, extent, out / name, size=(1200, 600) if world_map else (800, 800),
                          crs=crs or QgsCoordinateReferenceSystem("EPSG:4326"))
    arrange_project(project, visible=[tiles_layer, scene, countries], first=[tiles_layer, fused_layer],
                    last=[scene, countries])
    project.viewSettings().setDefaultViewExtent(QgsReferencedRectangle(scene_extent, scene.crs()))
    if not project.write(str(out / "demo.qgz")):
        raise DemoError(f"could not write {out / 'demo.qgz'}")

    n_tiles = sum(counts.values())
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    print(f"  {n_tiles:,} tiles of {SCENE.name} classified; class counts (image only | fused with the prior: "
          "α = 0 outside its training area | prior forced, stored α):")
    for name in sorted(set(counts) | set(fused_counts) | set(forced_counts), key=lambda c: -counts[c]):
        print(f"    {name:<22} {counts[name]:6,} | {fused_counts[name]:6,} | {forced_counts[name]:6,}")
    print(f"  outputs in {out}/: demo.qgz (open in QGIS), GeoPackage + GeoTIFFs, PNG renders:")
    for name in renders:
        print(f"    {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
