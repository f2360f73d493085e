"""Few-label mapping of a labelled non-Sentinel scene through the plugin's own algorithms, against a pixel RF.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python scripts/labelled_scene_experiment.py zion \\
        [--labels 5 20] [--seeds 0 1 2 3 4] [--out runs/labelled_scenes]
    ... scripts/labelled_scene_experiment.py para [--seeds 0 1 2 3 4]

``zion``: ``../shared/data/labelled_scenes/zion_landsat8_nlcd``, Landsat 8 OLI L1 (2015-08-18) bands 2-5 as
separate files, stacked in a VRT with band descriptions ``B2``..``B5`` and named after the Landsat product
convention (``LC08_L1TP_038034_20150818_…``), so that the plugin recognises the sensor (Landsat 8 numbering:
B4 = red, B5 = NIR) and its Level-1 radiometric rule, as it would for a file from USGS. Reference: the
simplified NLCD 2011 (8 classes) on its own ~31.5 m NAD83 grid; one point per NLCD cell centre. Split by
place: a checkerboard of 3 km blocks (train / test), points at least 320 m (half a 64 px tile at 10 m)
inside their block, so that no training tile reaches a test point. Test points: up to 100 per class
(class-balanced, seed 0) and 1,000 at random (area-proportional), fixed for every row and seed. Per seed,
``k`` training points per class are drawn from the training blocks (all of them where a class has fewer).

``para``: ``../shared/data/labelled_scenes/para_landsat5_polygons`` (GPL: read from ``../shared``, never
copied into the repository; its polygons are copied to ``--out``), Landsat 5 TM (1988-08-14) bands 1-5 and 7,
8-bit, stacked in a VRT (``B1``..``B5``, ``B7``; named ``LT05_…`` for the sensor). Reference: 36 polygons of 4
classes. Split by place: per seed the polygons of each class are dealt into 3 folds (seeded); each fold is
tested by models trained on the other folds' polygons (csp:train_classifier samples tiles inside them; the
forests take their pixels); the test points are the 30 m pixel centres inside the fold's polygons (pixels of
one polygon are not independent samples), scored per seed over the 3 folds; csp:accuracy_assessment runs on
every fold.

Rows, on the same training and test samples:

- ``picks by itself``: ``csp:train_classifier`` with its defaults (no ENCODER: the default encoder for the
  layer's bands; FEATURES auto, C chosen by its k-fold CV), ``csp:classify`` of the whole scene with its
  defaults, ``csp:accuracy_assessment`` against the test samples;
- ``statistics + LR``: the same with FEATURES=statistics (the tile's band mean, std (and centre pixel for
  points) + logistic regression);
- ``pixel RF``: scikit-learn Random Forest (100 trees) on the raw band values of the training samples'
  30 m pixels, read at the test samples' pixels (SCP's per-pixel approach);
- ``window RF``: the same forest on the per-band mean and std of the raw values of the 640 m window
  around each sample (the tile the encoder sees).

Overall accuracy, Cohen's kappa and macro F1 (``core/accuracy.py``, the same measures as
csp:accuracy_assessment), means over seeds and paired differences vs ``statistics + LR`` with 95 % t
intervals (``scripts/few_label_experiment.py``'s summary).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), "/usr/share/qgis/python/plugins"]
SHARED = REPO.parent / "shared" / "data" / "labelled_scenes"
ZION = SHARED / "zion_landsat8_nlcd"
PARA = SHARED / "para_landsat5_polygons"
NLCD_CLASSES = {1: "Water", 2: "Developed", 3: "Barren", 4: "Forest", 5: "Shrubland", 6: "Herbaceous",
                7: "Cultivated", 8: "Wetlands"}
BLOCK_M, INSET_M, WINDOW_M = 3000.0, 320.0, 640.0
TEST_PER_CLASS, TEST_RANDOM = 100, 1000
PARA_FOLDS = 3


def stack(bands: dict[str, Path], out: Path) -> Path:
    """A VRT of single-band files, one band each, described by the keys of ``bands``."""
    from osgeo import gdal

    out.parent.mkdir(parents=True, exist_ok=True)
    vrt = gdal.BuildVRT(str(out), [str(p) for p in bands.values()], separate=True)
    for i, name in enumerate(bands, start=1):
        vrt.GetRasterBand(i).SetDescription(name)
    vrt = None  # flush
    return out


def raster_values(raster: Path, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pixel values (N, C), window mean + std (N, 2C))`` of the raw values at the points (raster CRS);
    the window is WINDOW_M wide, nodata excluded."""
    import rasterio

    with rasterio.open(raster) as src:
        data = src.read().astype(np.float64)
        nodata = src.nodatavals[0]
        rows, cols = rasterio.transform.rowcol(src.transform, x, y)
        half = int(round(WINDOW_M / 2 / src.res[0]))
    rows, cols = np.asarray(rows), np.asarray(cols)
    pixels = data[:, rows, cols].T
    windows = []
    for r, c in zip(rows, cols, strict=True):
        window = data[:, max(0, r - half):r + half, max(0, c - half):c + half].reshape(len(data), -1)
        window = window[:, (window != nodata).all(axis=0)] if nodata is not None else window
        windows.append(np.concatenate([window.mean(axis=1), window.std(axis=1)]))
    return pixels, np.array(windows)


def zion_scene(out: Path) -> tuple[Path, pd.DataFrame]:
    """The Landsat 8 VRT and every usable NLCD point: ``x, y`` (image CRS), ``class``, ``split`` (train/test)."""
    import rasterio
    from osgeo import osr

    scene = stack({f"B{b}": ZION / f"landsat_b{b}.tif" for b in (2, 3, 4, 5)},
                  out / "LC08_L1TP_038034_20150818_zion_B2-B5.vrt")
    with rasterio.open(ZION / "nlcd.tif") as src:
        labels = src.read(1)
        rows, cols = np.nonzero(np.isin(labels, list(NLCD_CLASSES)))
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
        source_wkt = src.crs.to_wkt()
    with rasterio.open(scene) as img:
        target_wkt = img.crs.to_wkt()
        bounds, image, nodata, transform = img.bounds, img.read(), img.nodatavals[0], img.transform
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromWkt(source_wkt)
    target.ImportFromWkt(target_wkt)
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    moved = np.array(osr.CoordinateTransformation(source, target).TransformPoints(
        np.column_stack([xs, ys]).tolist()))[:, :2]
    x, y = moved[:, 0], moved[:, 1]
    inside = (x > bounds.left) & (x < bounds.right) & (y > bounds.bottom) & (y < bounds.top)
    x, y, codes = x[inside], y[inside], labels[rows[inside], cols[inside]]
    r, c = rasterio.transform.rowcol(transform, x, y)
    valid = (image[:, np.asarray(r), np.asarray(c)] != nodata).all(axis=0)
    x, y, codes = x[valid], y[valid], codes[valid]
    bx, by = np.floor((x - bounds.left) / BLOCK_M), np.floor((bounds.top - y) / BLOCK_M)
    inset = np.minimum.reduce([x - bounds.left - bx * BLOCK_M, (bx + 1) * BLOCK_M - (x - bounds.left),
                               bounds.top - y - by * BLOCK_M, (by + 1) * BLOCK_M - (bounds.top - y)])
    keep = inset >= INSET_M
    points = pd.DataFrame({"x": x[keep], "y": y[keep], "class": [NLCD_CLASSES[int(v)] for v in codes[keep]],
                           "split": np.where(((bx + by) % 2 == 0)[keep], "train", "test")})
    return scene, points


def test_samples(points: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The fixed test samples: up to TEST_PER_CLASS per class, and TEST_RANDOM at random."""
    rng = np.random.default_rng(0)
    test = points[points.split == "test"]
    balanced = [group.iloc[rng.choice(len(group), min(TEST_PER_CLASS, len(group)), replace=False)]
                for _, group in test.groupby("class")]
    random = test.iloc[rng.choice(len(test), min(TEST_RANDOM, len(test)), replace=False)]
    return {"class-balanced": pd.concat(balanced), "random": random}


def write_points(frame: pd.DataFrame, crs_wkt: str, path: Path, layer: str) -> str:
    """``frame`` (``x, y, class``) as a point layer of a GeoPackage; returns its QGIS source."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver = ogr.GetDriverByName("GPKG")
    source = driver.Open(str(path), 1) if path.is_file() else driver.CreateDataSource(str(path))
    points = source.CreateLayer(layer, srs, ogr.wkbPoint, ["OVERWRITE=YES"])
    points.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    for x, y, label in zip(frame.x, frame.y, frame["class"], strict=True):
        feature = ogr.Feature(points.GetLayerDefn())
        feature.SetField("class", label)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        points.CreateFeature(feature)
    source = None  # closes and flushes the GeoPackage
    return f"{path}|layername={layer}"


def plugin_run(scene: Path, train_source: str, tests: dict[str, str], features: str, folder: Path) -> dict:
    """csp:train_classifier (defaults but FEATURES) → csp:classify → csp:accuracy_assessment per test layer."""
    import processing
    from qgis.core import QgsVectorLayer

    from qgis_csp_plugin.processing.train_classifier_algorithm import FEATURE_CHOICES

    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    trained = processing.run("csp:train_classifier", {
        "INPUT": str(scene), "LABELS": QgsVectorLayer(train_source, "training", "ogr"), "CLASS_FIELD": "class",
        "FEATURES": FEATURE_CHOICES.index(features), "OUTPUT": str(folder / "model.onnx")})
    classified = processing.run("csp:classify", {"INPUT": str(scene), "MODEL": trained["OUTPUT"],
                                                 "OUTPUT_VECTOR": str(folder / "tiles.gpkg"),
                                                 "OUTPUT_CLASSES": str(folder / "classes.tif")})
    from qgis_csp_plugin.contract.onnx_model import read_metadata

    meta = read_metadata(Path(trained["OUTPUT"]))
    result = {"chosen": trained["FEATURES"], "c": meta.training["l2_c"], "cv_accuracy": trained["CV_ACCURACY"],
              "cv_accuracy_chosen": meta.metrics["cv_accuracy_chosen"], "encoder": meta.training["encoder"],
              "seconds": round(time.perf_counter() - start, 1), "tests": {}}
    for name, source in tests.items():
        assessed = processing.run("csp:accuracy_assessment", {
            "CLASSIFICATION": classified["OUTPUT_CLASSES"], "REFERENCE": QgsVectorLayer(source, name, "ogr"),
            "REFERENCE_FIELD": "class", "OUTPUT_CSV": str(folder / f"accuracy_{name}.csv")})
        table = pd.read_csv(assessed["OUTPUT_CSV"])
        f1 = pd.to_numeric(table.get("f1", pd.Series(dtype=float)), errors="coerce")
        result["tests"][name] = {"overall": assessed["OVERALL_ACCURACY"], "kappa": assessed["KAPPA"],
                                 "macro_f1": float(f1.fillna(0).mean()) if len(f1) else float("nan"),
                                 "samples": assessed["SAMPLES"]}
    return result


def forest_scores(features: np.ndarray, labels: np.ndarray, train: np.ndarray, tests: dict[str, np.ndarray],
                  class_names: list[str], seed: int) -> dict[str, dict]:
    from scripts.few_label_experiment import forest, scores

    return {name: {**scores(forest(features, labels, train, rows, seed), labels[rows], len(class_names)),
                   "samples": int(len(rows))} for name, rows in tests.items()}


def run_zion(args: argparse.Namespace) -> list[dict]:
    import rasterio

    out = args.out / "zion"
    scene, points = zion_scene(out)
    with rasterio.open(scene) as src:
        crs_wkt = src.crs.to_wkt()
    tests = test_samples(points)
    test_sources = {name: write_points(frame, crs_wkt, out / "reference.gpkg", name) for name, frame in tests.items()}
    pool = points[points.split == "train"]
    print(f"zion: {len(points):,} NLCD points usable ({(points.split == 'train').sum():,} in training blocks); "
          "training pool per class: " + ", ".join(f"{c} {n}" for c, n in pool["class"].value_counts().items())
          + "; test samples: " + ", ".join(f"{k} {len(v)}" for k, v in tests.items()), flush=True)
    every = pd.concat([pool, *tests.values()])
    class_names = sorted(points["class"].unique())
    truth = np.array([class_names.index(c) for c in every["class"]])
    spectra, windows = raster_values(scene, every.x.to_numpy(), every.y.to_numpy())
    offsets = np.cumsum([0, len(pool), *[len(v) for v in tests.values()]])
    test_rows = {name: np.arange(offsets[i + 1], offsets[i + 2]) for i, name in enumerate(tests)}
    results = []
    for n in args.labels:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            train = np.sort(np.concatenate([rng.choice(np.flatnonzero(pool["class"].to_numpy() == c),
                                                       min(n, int((pool["class"] == c).sum())), replace=False)
                                            for c in class_names]))
            folder = out / f"n{n}_seed{seed}"
            source = write_points(pool.iloc[train], crs_wkt, folder.with_suffix(".gpkg"), "training")
            rows = {}
            for method, features in (("picks by itself", "auto"), ("statistics + LR", "statistics")):
                rows[method] = plugin_run(scene, source, test_sources, features, folder / features)
            for method, values in (("pixel RF", spectra), ("window RF", windows)):
                rows[method] = {"tests": forest_scores(values, truth, train, test_rows, class_names, seed)}
            for method, result in rows.items():
                for test, measured in result["tests"].items():
                    results.append({"scene": f"zion ({test} test points)", "labels_per_class": n, "seed": seed,
                                    "method": method, **measured,
                                    **{k: v for k, v in result.items() if k != "tests"}})
                    print(json.dumps(results[-1]), flush=True)
    return results


def para_scene(out: Path) -> tuple[Path, Path, pd.DataFrame, np.ndarray]:
    """The Landsat 5 VRT, the polygons (a copy outside the repository: GPL data stays in ``runs/``), one row per
    polygon (``fid, class``) and the polygon id (fid, 0 = none) of every 30 m pixel."""
    import rasterio
    from osgeo import ogr
    from rasterio.features import rasterize
    from shapely import wkt

    scene = stack({f"B{b}": PARA / f"LT52240631988227CUB02_B{b}.TIF" for b in (1, 2, 3, 4, 5, 7)},
                  out / "LT05_L1TP_224063_19880814_para_B1-B7.vrt")
    polygons = out / "polygons.gpkg"
    if not polygons.is_file():
        ogr.GetDriverByName("GPKG").CopyDataSource(ogr.Open(str(PARA / "trainPolygons.shp")), str(polygons))
    source = ogr.Open(str(polygons))
    layer = source.GetLayer(0)
    rows, shapes = [], []
    for feature in layer:
        rows.append({"fid": feature.GetFID(), "class": feature.GetField("class")})
        shapes.append((wkt.loads(feature.GetGeometryRef().ExportToWkt()), feature.GetFID()))
    with rasterio.open(scene) as src:
        ids = rasterize(shapes, out_shape=(src.height, src.width), transform=src.transform, fill=0, dtype="int32")
    return scene, polygons, pd.DataFrame(rows), ids


def run_para(args: argparse.Namespace) -> list[dict]:
    """Per seed, the polygons of each class dealt into PARA_FOLDS folds; every fold tested once by a model
    trained on the others' polygons; scores pooled over the folds of a seed."""
    import processing
    import rasterio
    from qgis.core import QgsVectorLayer

    from qgis_csp_plugin.processing.train_classifier_algorithm import FEATURE_CHOICES
    from scripts.few_label_experiment import forest, scores

    out = args.out / "para"
    out.mkdir(parents=True, exist_ok=True)
    scene, polygons, table, ids = para_scene(out)
    class_names = sorted(table["class"].unique())
    with rasterio.open(scene) as src:
        crs_wkt, transform = src.crs.to_wkt(), src.transform
    rows_, cols_ = np.nonzero(ids)
    xs, ys = rasterio.transform.xy(transform, rows_, cols_)
    pixels = pd.DataFrame({"x": xs, "y": ys, "fid": ids[rows_, cols_]}).merge(table, on="fid")
    truth = np.array([class_names.index(c) for c in pixels["class"]])
    spectra, windows = raster_values(scene, pixels.x.to_numpy(), pixels.y.to_numpy())
    print(f"para: {len(table)} polygons ({', '.join(f'{c} {n}' for c, n in table['class'].value_counts().items())}), "
          f"{len(pixels)} pixels inside them", flush=True)
    results = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        fold = pd.Series(0, index=table["fid"])
        for _, group in table.groupby("class"):
            order = rng.permutation(group["fid"].to_numpy())
            fold[order] = np.arange(len(order)) % PARA_FOLDS
        predicted = {m: np.full(len(pixels), -1) for m in ("picks by itself", "statistics + LR", "pixel RF",
                                                           "window RF")}
        facts: dict[str, list] = {"picks by itself": [], "statistics + LR": []}
        for k in range(PARA_FOLDS):
            test = pixels["fid"].map(fold).to_numpy() == k
            folder = out / f"seed{seed}_fold{k}"
            folder.mkdir(exist_ok=True)
            train_fids = ",".join(str(f) for f in fold.index[fold != k])
            points = write_points(pixels[test], crs_wkt, folder / "test.gpkg", "test")
            for method, features in (("picks by itself", "auto"), ("statistics + LR", "statistics")):
                labels = QgsVectorLayer(str(polygons), "training polygons", "ogr")
                labels.setSubsetString(f"fid IN ({train_fids})")
                trained = processing.run("csp:train_classifier", {
                    "INPUT": str(scene), "LABELS": labels, "CLASS_FIELD": "class",
                    "FEATURES": FEATURE_CHOICES.index(features), "OUTPUT": str(folder / f"{features}.onnx")})
                classified = processing.run("csp:classify", {
                    "INPUT": str(scene), "MODEL": trained["OUTPUT"], "OUTPUT_VECTOR": str(folder / f"{features}.gpkg"),
                    "OUTPUT_CLASSES": str(folder / f"{features}.tif")})
                assessed = processing.run("csp:accuracy_assessment", {
                    "CLASSIFICATION": classified["OUTPUT_CLASSES"], "REFERENCE": QgsVectorLayer(points, "t", "ogr"),
                    "REFERENCE_FIELD": "class", "OUTPUT_CSV": str(folder / f"{features}_accuracy.csv")})
                with rasterio.open(classified["OUTPUT_CLASSES"]) as src:
                    mapped = np.array([v[0] for v in src.sample(list(zip(pixels.x[test], pixels.y[test],
                                                                          strict=True)))])
                predicted[method][test] = mapped
                facts[method].append({"fold": k, "chosen": trained["FEATURES"], "assessment_overall":
                                      assessed["OVERALL_ACCURACY"], "samples": assessed["SAMPLES"]})
            for method, values in (("pixel RF", spectra), ("window RF", windows)):
                predicted[method][test] = forest(values, truth, np.flatnonzero(~test), np.flatnonzero(test), seed)
        for method, values in predicted.items():
            results.append({"scene": "para (pixels of held-out polygons)", "labels_per_class": "2/3 of the polygons",
                            "seed": seed, "method": method, **scores(values, truth, len(class_names)),
                            "samples": len(truth), "folds": facts.get(method)})
            print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", choices=("zion", "para"))
    parser.add_argument("--labels", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "labelled_scenes")
    args = parser.parse_args()
    from scripts.few_label_experiment import summarise
    from scripts.headless_qgis import start_qgis, stop_qgis

    app = start_qgis()
    results = run_zion(args) if args.scene == "zion" else run_para(args)
    path = args.out / args.scene / "results.json"
    path.write_text(json.dumps(results, indent=1))
    summary = summarise(results)
    (path.parent / "summary.md").write_text(summary)
    print(summary)
    stop_qgis(app)


if __name__ == "__main__":
    main()
