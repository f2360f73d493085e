"""csp:train_classifier on a real labelled scene (EuroSAT patches laid side by side), then csp:classify
with the written model; the feature set and C chosen by cross-validation are logged and recorded, and a
statistics head computes its statistics inside the graph; every bad input gives a message and writes nothing.
The encoder is a small 13-band one exported by the tests' model factory (what is tested is the algorithm;
the shipped encoders and the classifiers made with them: test_default_heads.py)."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from model_factory import export_image_encoder
from osgeo import gdal
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsSymbol,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtGui import QColor

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import ModelMetadata
from qgis_csp_plugin.core.head_selection import C_GRID
from qgis_csp_plugin.core.tile_features import FEATURE_SETS
from qgis_csp_plugin.processing.train_classifier_algorithm import FEATURE_CHOICES
from trainer.data.eurosat_mosaic import build_mosaic

from .test_classify_processing import QGIS_PROCESS, plugin_environment

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
CLASSES = ("Forest", "Industrial", "SeaLake")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    patches = [REPO / "data" / "eurosat_ms" / c / f"{c}_{i}.tif" for c in CLASSES for i in range(1, 7)]
    build_mosaic(patches, [p.parent.name for p in patches], folder / "scene.tif", folder / "labels.gpkg", columns=6)
    export_image_encoder(folder / "encoder.onnx")
    return folder


def encoder(scene: Path) -> Path:
    """The 13-band image encoder beside the scene."""
    return scene / "encoder.onnx"


def labels(scene: Path, layer: str = "centres") -> QgsVectorLayer:
    result = QgsVectorLayer(f"{scene / 'labels.gpkg'}|layername={layer}", layer, "ogr")
    assert result.isValid()
    return result


def memory_copy(source: QgsVectorLayer, crs: str | None = None, keep=lambda f: True,
                extra: list[tuple[QgsGeometry, object]] = ()) -> QgsVectorLayer:
    """The features of ``source`` (optionally reprojected / filtered) plus ``extra`` (geometry, class)."""
    kind = QgsWkbTypes.displayString(source.wkbType())
    target = QgsCoordinateReferenceSystem(crs) if crs else source.crs()
    layer = QgsVectorLayer(f"{kind}?crs={target.authid()}&field=class:string&field=class_id:integer", "m", "memory")
    transform = QgsCoordinateTransform(source.crs(), target, QgsProject.instance())
    features = []
    for f in source.getFeatures():
        if keep(f):
            g = QgsGeometry(f.geometry())
            g.transform(transform)
            features.append((g, f["class"], f["class_id"]))
    features += [(g, c, None) for g, c in extra]
    for g, c, i in features:
        feature = QgsFeature(layer.fields())
        feature.setGeometry(g)
        feature.setAttributes([c, i])
        layer.dataProvider().addFeature(feature)
    return layer


def CENTRES(scene: Path) -> str:  # noqa: N802 (reads like the layer it names)
    """The centres layer as a source string. A test in which processing.run fails stays referenced until
    the interpreter exits (after QGIS): an OGR layer object in its frame then crashes the shutdown."""
    return f"{scene / 'labels.gpkg'}|layername=centres"


def as_file(layer: QgsVectorLayer, path: Path) -> str:
    """``layer`` written to a GeoPackage (see :func:`CENTRES` for why failing runs get files)."""
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(path), QgsProject.instance().transformContext(),
                                                      options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    return str(path)


def train(scene: Path, layer, out: Path, field: str = "class", feedback: QgsProcessingFeedback | None = None,
          **extra):
    import processing

    return processing.run("csp:train_classifier", {
        "INPUT": str(scene / "scene.tif"), "ENCODER": str(encoder(scene)), "LABELS": layer, "CLASS_FIELD": field,
        "FOLDS": 3, "OUTPUT": str(out), **extra}, feedback=feedback)


class Recorder(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 (QGIS API name)
        self.infos.append(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802 (QGIS API name)
        self.warnings.append(warning)


def test_points_train_a_classifier_that_classify_runs(provider, scene, tmp_path):
    import processing

    result = train(scene, labels(scene), tmp_path / "few.onnx")
    model = OnnxModel.load(result["OUTPUT"])
    meta = model.metadata
    assert meta.kind == "image_classifier" and meta.class_names == list(CLASSES)
    assert meta.bands == OnnxModel.load(encoder(scene)).metadata.bands and meta.tile_size == 64
    assert meta.training["samples_per_class"] == dict.fromkeys(CLASSES, 6)
    assert meta.metrics["cv_folds"] == 3 and meta.training["features"] == result["FEATURES"]
    assert result["CV_ACCURACY"] == pytest.approx(meta.metrics["cv_accuracy"], abs=1e-4)
    assert result["CV_ACCURACY"] > 1 / len(CLASSES)
    classified = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": result["OUTPUT"],
        "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg")})
    tiles = QgsVectorLayer(classified["OUTPUT_VECTOR"], "tiles", "ogr")
    predicted = [f["class"] for f in tiles.getFeatures()]
    truth = [f["class"] for f in labels(scene).getFeatures()]  # patch i = tile i (tile = patch size)
    assert len(predicted) == len(truth) and np.mean(np.array(predicted) == np.array(truth)) > 0.8


def test_points_train_classify_assess_on_held_out_patches(provider, scene, tmp_path):
    """The analyst's path: train on patches 1-3 of each class, classify, assess on patches 4-6."""
    import processing

    training, held_out = labels(scene), labels(scene)
    training.setSubsetString("substr(patch, -5, 1) IN ('1', '2', '3')")
    held_out.setSubsetString("substr(patch, -5, 1) IN ('4', '5', '6')")
    assert training.featureCount() == held_out.featureCount() == 9
    feedback = Recorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        processing.run("csp:train_classifier", {  # 5 folds asked, 3 points per class
            "INPUT": str(scene / "scene.tif"), "ENCODER": str(encoder(scene)), "LABELS": training,
            "CLASS_FIELD": "class", "FOLDS": 5, "OUTPUT": str(tmp_path / "few.onnx")}, feedback=feedback)
        model = str(tmp_path / "few.onnx")
        classes = processing.run("csp:classify", {
            "INPUT": str(scene / "scene.tif"), "MODEL": model, "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg"),
            "OUTPUT_CLASSES": str(tmp_path / "classes.tif")})["OUTPUT_CLASSES"]
        report = processing.run("csp:accuracy_assessment", {
            "CLASSIFICATION": classes, "REFERENCE": held_out, "REFERENCE_FIELD": "class",
            "OUTPUT_CSV": str(tmp_path / "acc.csv"), "OUTPUT_HTML": str(tmp_path / "acc.html")})
    assert [w for w in caught if "qgis_csp_plugin" in w.filename] == []  # e.g. no deprecated parameterAsFields
    assert "3-fold cross-validation instead of the 5 folds asked: the class 'Forest' has only 3 labelled point(s), " \
           "and each fold must hold one out" in feedback.infos
    assert OnnxModel.load(model).metadata.metrics["cv_folds"] == 3
    assert report["SAMPLES"] == 9 and report["OVERALL_ACCURACY"] >= 5 / 9
    rows = (tmp_path / "acc.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == list(CLASSES)  # names from the class raster's categories


def test_polygons_with_an_integer_field_and_the_layer_style_colours(provider, scene, tmp_path):
    layer = labels(scene, "patches")
    colours = ["#112233", "#445566", "#778899"]
    renderer = QgsCategorizedSymbolRenderer("class_id", [
        QgsRendererCategory(i, _fill(colour), str(i)) for i, colour in enumerate(colours)])
    layer.setRenderer(renderer)
    result = train(scene, layer, tmp_path / "poly.onnx", field="class_id", MAX_PER_POLYGON=4)
    meta = OnnxModel.load(result["OUTPUT"]).metadata
    assert meta.class_names == ["0", "1", "2"] and meta.class_colors == colours
    assert meta.training["geometry"] == "polygon"
    assert "centre" not in meta.training["feature_blocks"]  # polygons: tile mean and std only
    # 48 px polygons hold one 64 px tile-centre spacing cell each: one sample per polygon
    assert meta.training["samples_per_class"] == {"0": 6, "1": 6, "2": 6}


def test_reprojected_labels_and_points_off_the_raster(provider, scene, tmp_path):
    off = QgsGeometry.fromPointXY(QgsPointXY(400_000, 5_000_000))  # 100 km west of the scene
    layer = memory_copy(labels(scene), "EPSG:4326")
    layer = memory_copy(layer, extra=[(_reproject(off), "Forest")])
    result = train(scene, layer, tmp_path / "wgs84.onnx")
    meta = OnnxModel.load(result["OUTPUT"]).metadata
    assert meta.training["dropped_samples"] == 1
    reference = OnnxModel.load(train(scene, labels(scene), tmp_path / "utm.onnx")["OUTPUT"])
    images = reference.random_batch(2)["image"]
    assert np.allclose(OnnxModel.load(result["OUTPUT"]).run(image=images), reference.run(image=images), atol=1e-4)


def test_every_candidate_is_logged_and_recorded(provider, scene, tmp_path):
    """Features and C chosen by CV: each candidate's accuracy in the log and the metadata, which round-trips
    through the schema; the reported accuracy is the nested one."""
    feedback = Recorder()
    result = train(scene, labels(scene), tmp_path / "auto.onnx", feedback=feedback)
    meta = OnnxModel.load(result["OUTPUT"]).metadata
    assert ModelMetadata.from_props(meta.to_props()) == meta
    selection = meta.training["selection"]
    candidates = selection["candidates"]
    assert [(c["features"], c["c"]) for c in candidates] == [(f, c) for f in FEATURE_SETS for c in C_GRID]
    assert selection["nested_cv"] and selection["requested"] == {"features": "auto", "l2_c": None}
    chosen = max(candidates, key=lambda c: (c["cv_accuracy"], -c["cv_log_loss"]))
    assert (meta.training["features"], meta.training["l2_c"]) == (chosen["features"], chosen["c"])
    assert meta.metrics["cv_accuracy_chosen"] == chosen["cv_accuracy"]
    assert result["CV_ACCURACY"] == pytest.approx(meta.metrics["cv_accuracy"], abs=1e-4)
    log = "\n".join(feedback.infos)
    for name in FEATURE_SETS:
        line = next(line for line in feedback.infos if line.startswith(f"3-fold CV accuracy of {name}:"))
        assert line.count("C = ") == len(C_GRID)
    assert f"chosen: {chosen['features']}, C = {chosen['c']:g}" in log and "optimistic" in log and "nested" in log


def test_a_statistics_head_computes_its_statistics_in_the_graph(provider, scene, tmp_path):
    """FEATURES=statistics with a fixed C: no encoder in the file, and csp:classify gives, tile by tile, what
    the model gives on the raster's own 64 px tiles (the patches); numpy parity: test_onnx_head.py."""
    import processing

    result = train(scene, labels(scene), tmp_path / "stats.onnx", FEATURES=FEATURE_CHOICES.index("statistics"), C=0.5)
    model = OnnxModel.load(result["OUTPUT"])
    meta = model.metadata
    assert result["FEATURES"] == "statistics" and meta.training["l2_c"] == 0.5
    assert meta.training["feature_blocks"] == ["mean", "std", "centre"]
    assert not meta.training["selection"]["nested_cv"] and len(meta.training["selection"]["candidates"]) == 1
    assert Path(result["OUTPUT"]).stat().st_size < 20_000 < encoder(scene).stat().st_size  # the encoder was dropped
    classified = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": result["OUTPUT"], "OUTPUT_VECTOR": str(tmp_path / "t.gpkg"),
        "OUTPUT_CLASSES": str(tmp_path / "c.tif"), "OUTPUT_PROBABILITY": str(tmp_path / "p.tif")})
    with rasterio.open(scene / "scene.tif") as src:
        pixels = src.read().astype(np.float32)
    tiles = np.stack([pixels[:, r:r + 64, c:c + 64] for r in range(0, pixels.shape[1], 64)
                      for c in range(0, pixels.shape[2], 64)])
    expected = model.run(image=tiles)
    with rasterio.open(classified["OUTPUT_CLASSES"]) as classes, rasterio.open(classified["OUTPUT_PROBABILITY"]) as p:
        assert (classes.read(1).ravel() == expected.argmax(axis=1)).all()
        assert np.abs(p.read(1).ravel() - expected.max(axis=1)).max() < 1e-5
    truth = [CLASSES.index(f["class"]) for f in labels(scene).getFeatures()]  # patch i = tile i
    assert np.mean(expected.argmax(axis=1) == truth) > 0.8


def test_the_statistics_see_the_same_radiometric_mapping_in_training_and_classify(provider, scene, tmp_path):
    """With a layer_statistics encoder the plugin maps the layer's values before the graph: csp:classify's
    output equals the model on tiles mapped by the training job's own transform."""
    import json

    import onnx
    import processing

    from qgis_csp_plugin.jobs.train_classifier import TrainRequest, prepare

    graph = onnx.load(encoder(scene))
    props = {p.key: p for p in graph.metadata_props}
    normalization = json.loads(props["normalization"].value)
    props["normalization"].value = json.dumps({**normalization, "radiometry": "layer_statistics"})
    onnx.save(graph, tmp_path / "encoder.onnx")
    layer = QgsRasterLayer(str(scene / "scene.tif"), "scene")
    job = prepare(TrainRequest(layer, tmp_path / "encoder.onnx", labels(scene), "class", tmp_path / "unused.onnx"))
    assert job.transform is not None and not np.allclose(job.transform.scale, 1)
    result = train(scene, labels(scene), tmp_path / "mapped.onnx", ENCODER=str(tmp_path / "encoder.onnx"),
                   FEATURES=FEATURE_CHOICES.index("statistics"), C=1.0)
    classified = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": result["OUTPUT"], "OUTPUT_VECTOR": str(tmp_path / "t.gpkg"),
        "OUTPUT_PROBABILITY": str(tmp_path / "p.tif")})
    with rasterio.open(scene / "scene.tif") as src:
        pixels = src.read().astype(np.float32)
    tiles = np.stack([pixels[:, r:r + 64, c:c + 64] for r in range(0, pixels.shape[1], 64)
                      for c in range(0, pixels.shape[2], 64)])
    expected = OnnxModel.load(result["OUTPUT"]).run(image=job.transform.apply(tiles))
    with rasterio.open(classified["OUTPUT_PROBABILITY"]) as p:
        assert np.abs(p.read(1).ravel() - expected.max(axis=1)).max() < 1e-5


@pytest.mark.parametrize("case, message", [
    ("one_class", "single class"),
    ("one_sample", "at least 2 usable samples"),
    ("empty_field", "has no value"),
    ("all_off_raster", "at least 2 usable samples|has no value"),
])
def test_bad_labels_give_a_message_and_write_nothing(provider, scene, tmp_path, case, message):
    out = tmp_path / "out" / "bad.onnx"
    path = bad_labels(scene, case, tmp_path / "labels.gpkg")  # a file: see CENTRES
    with pytest.raises(QgsProcessingException, match=message):
        train(scene, path, out)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def bad_labels(scene: Path, case: str, path: Path) -> str:
    """The centres with one defect, written to ``path``."""
    source = labels(scene)
    off_raster = [(QgsGeometry.fromPointXY(QgsPointXY(400_000 + i, 5_000_000)), "SeaLake") for i in range(3)]
    layers = {
        "one_class": lambda: memory_copy(source, keep=lambda f: f["class"] == "Forest"),
        "one_sample": lambda: memory_copy(
            source, keep=lambda f: f["class"] != "SeaLake" or f["patch"] == "SeaLake_1.tif"),
        "empty_field": lambda: memory_copy(source, keep=lambda f: False, extra=[
            (QgsGeometry.fromPointXY(QgsPointXY(500_320, 4_999_680)), None)] * 3),
        "all_off_raster": lambda: memory_copy(source, keep=lambda f: f["class"] != "SeaLake", extra=off_raster),
    }
    return as_file(layers[case](), path)


def test_an_image_classifier_is_not_an_encoder(provider, scene, tmp_path):
    with pytest.raises(QgsProcessingException, match="needs an image_encoder"):
        train(scene, CENTRES(scene), tmp_path / "x.onnx", ENCODER=str(REPO / "models" / "eurosat_s2.onnx"))


def _fill(colour: str) -> QgsSymbol:
    symbol = QgsSymbol.defaultSymbol(QgsWkbTypes.PolygonGeometry)
    symbol.setColor(QColor(colour))
    return symbol


def _reproject(geometry: QgsGeometry) -> QgsGeometry:
    g = QgsGeometry(geometry)
    g.transform(QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32632"),
                                       QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance()))
    return g


@pytest.mark.skipif(not Path(QGIS_PROCESS).exists(), reason="qgis_process is not installed")
def test_qgis_process_points_train_classify_dense_assess(scene, tmp_path):
    """The same path on the command line: qgis_process runs the three steps with the installed plugin."""
    env = plugin_environment(tmp_path / "profile")
    held = scene / "held_out.gpkg"
    source = labels(scene)
    source.setSubsetString("substr(patch, -5, 1) IN ('4', '5', '6')")
    QgsVectorFileWriter.writeAsVectorFormatV3(source, str(held), QgsProject.instance().transformContext(),
                                              QgsVectorFileWriter.SaveVectorOptions())
    steps = [
        ["csp:train_classifier", f"INPUT={scene / 'scene.tif'}", f"ENCODER={encoder(scene)}",
         f"LABELS={scene / 'labels.gpkg'}|layername=centres",
         "CLASS_FIELD=class", "FOLDS=3", f"OUTPUT={tmp_path / 'few.onnx'}"],
        ["csp:classify", f"INPUT={scene / 'scene.tif'}", f"MODEL={tmp_path / 'few.onnx'}", "STRIDE=32",
         f"OUTPUT_VECTOR={tmp_path / 'tiles.gpkg'}", f"OUTPUT_CLASSES={tmp_path / 'classes.tif'}"],
        ["csp:accuracy_assessment", f"CLASSIFICATION={tmp_path / 'classes.tif'}", f"REFERENCE={held}",
         "REFERENCE_FIELD=class", f"OUTPUT_CSV={tmp_path / 'accuracy.csv'}"],
    ]
    outputs = []
    for algorithm, *arguments in steps:
        done = subprocess.run([QGIS_PROCESS, "run", algorithm, "--", *arguments], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    assert "cross-validated accuracy" in outputs[0] and "OVERALL_ACCURACY" in outputs[2]
    assert gdal.Open(str(tmp_path / "classes.tif")).GetGeoTransform()[1] == 32 * 10.0  # dense: 32 px cells


def test_points_on_nodata_are_dropped_and_counted(provider, scene, tmp_path):
    import processing

    with rasterio.open(scene / "scene.tif") as src:
        pixels, profile = src.read(), src.profile
    pixels[:, :64, :64] = 0  # patch 0 (Forest_1) becomes nodata
    with rasterio.open(tmp_path / "holes.tif", "w", **profile) as dst:
        dst.write(pixels)
    result = processing.run("csp:train_classifier", {
        "INPUT": str(tmp_path / "holes.tif"), "ENCODER": str(encoder(scene)), "LABELS": labels(scene),
        "CLASS_FIELD": "class", "FOLDS": 3, "OUTPUT": str(tmp_path / "holes.onnx")})
    meta = OnnxModel.load(result["OUTPUT"]).metadata
    assert meta.training["dropped_samples"] == 1
    assert meta.training["samples_per_class"] == {"Forest": 5, "Industrial": 6, "SeaLake": 6}


def test_optional_location_prior_over_the_same_classes_fuses_in_classify(provider, scene, tmp_path):
    import processing

    result = train(scene, labels(scene), tmp_path / "img.onnx", OUTPUT_PRIOR=str(tmp_path / "prior.onnx"),
                   LOCATION_ENCODER=str(REPO / "models" / "csp_location_encoder.onnx"))
    prior = OnnxModel.load(result["OUTPUT_PRIOR"])
    meta = prior.metadata
    assert meta.kind == "location_prior" and meta.class_names == list(CLASSES)
    bounds = meta.training["latlon_bounds"]
    assert 44 < bounds["lat"][0] <= bounds["lat"][1] < 46 and 8 < bounds["lon"][0] <= bounds["lon"][1] < 10
    assert 0 <= meta.metrics["cv_accuracy"] <= 1
    recipe = meta.training["prior_recipe"]  # chosen by cross-validated log-loss among learned, kNN, hybrid
    assert recipe["chosen"] in ("learned", "knn", "hybrid") and recipe["knn"]["bandwidth_deg"] > 0
    assert min(recipe["cv_log_loss_by_knn_weight"].values()) == recipe["cv_log_loss_by_knn_weight"][
        f"{recipe['knn_weight']:g}"]
    fused = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": result["OUTPUT"], "USE_LOCATION_PRIOR": True,
        "PRIOR_MODEL": result["OUTPUT_PRIOR"], "OUTPUT_VECTOR": str(tmp_path / "fused.gpkg")})
    tiles = QgsVectorLayer(fused["OUTPUT_VECTOR"], "tiles", "ogr")
    assert tiles.featureCount() == 18 and {f["class"] for f in tiles.getFeatures()} <= set(CLASSES)


def test_without_a_location_encoder_the_prior_is_a_knn_prior_that_classify_fuses(provider, scene, tmp_path,
                                                                                  monkeypatch):
    import processing

    from qgis_csp_plugin.jobs import train_classifier

    monkeypatch.setattr(train_classifier, "find_default_model", lambda *args, **kwargs: None)  # none installed
    result = train(scene, labels(scene), tmp_path / "img.onnx", OUTPUT_PRIOR=str(tmp_path / "knn.onnx"))
    prior = OnnxModel.load(result["OUTPUT_PRIOR"])
    meta = prior.metadata
    assert meta.location_encoder["name"] == "knn_haversine" and meta.training["prior_recipe"]["chosen"] == "knn"
    assert meta.location_encoder["params"]["points"] == 18 and meta.class_names == list(CLASSES)
    far = prior.run(latlon=np.array([[-40.0, -100.0]], np.float32))[0]  # the South Pacific: flat
    np.testing.assert_allclose(far, 1 / len(CLASSES), atol=1e-6)
    fused = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": result["OUTPUT"], "USE_LOCATION_PRIOR": True,
        "PRIOR_MODEL": result["OUTPUT_PRIOR"], "OUTPUT_VECTOR": str(tmp_path / "fused.gpkg")})
    tiles = QgsVectorLayer(fused["OUTPUT_VECTOR"], "tiles", "ogr")
    predicted = [f["class"] for f in tiles.getFeatures()]
    truth = [f["class"] for f in labels(scene).getFeatures()]
    assert len(predicted) == 18 and np.mean(np.array(predicted) == np.array(truth)) > 0.8


def test_a_prior_needs_a_location_encoder(provider, scene, tmp_path):
    with pytest.raises(QgsProcessingException, match="needs a location_encoder"):
        train(scene, CENTRES(scene), tmp_path / "x.onnx", OUTPUT_PRIOR=str(tmp_path / "y.onnx"),
              LOCATION_ENCODER=str(encoder(scene)))
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "y.onnx").exists()
