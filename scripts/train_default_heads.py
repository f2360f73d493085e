"""The default EuroSAT classifiers as few-label heads on the Galileo nano encoder, made by the plugin itself.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python scripts/train_default_heads.py \\
        [--models-dir models] [--results docs/results] [--folds 5] [--only eurosat_s2 eurosat_rgb]

``models/eurosat_s2.onnx`` (the 10 optical Sentinel-2 bands Galileo reads) and ``models/eurosat_rgb.onnx``
(B04, B03, B02; the other 7 masked) are written by ``csp:train_classifier`` (``processing.run``) from the
labelled EuroSAT patches of ``eurosat_all`` (469: the 200 in data/ + 269 of ``../shared/data/eurosat_ms_extra``;
without ``../shared`` the 200, said so) laid side by side in one GeoTIFF (``trainer.data.eurosat_mosaic``)
with one labelled point per patch centre, styled with the EuroSAT class colours: encoder ``--encoder``
(default ``models/galileo_nano_encoder.onnx``), FEATURES auto and C chosen by the algorithm's own k-fold CV. So
what ships is exactly what the plugin computes (encoder, in-graph statistics and head in one ONNX file;
the radiometric rule, band mask and month as Classify feeds them).

With ``--folds K`` the same recipe is cross-validated first: for each fold of the seeded stratified K-fold
partition of ``python -m trainer crossval`` (``trainer.data.splits.fold_split``, split_seed 0: the folds the
ResNet classifiers were measured on) ``csp:train_classifier`` is run on the other folds' patches and
``csp:classify`` on the fold's patches (64 px tiles = the patches), as they are (``native``) and as a 30 m
layer (``30m``: the fold's mosaic area-averaged to 30 m pixels by GDAL, which Classify reads back at the
model's 10 m, as it does any 30 m layer); the class at each patch centre is compared with its label. The
same is done with FEATURES=statistics (band statistics + logistic regression, the simple baseline). Writes
``<results>/<model>_galileo_cv.csv`` (one row per patch) and ``.md`` (accuracy and per-class recall pooled
over the folds, 95 % Wilson intervals; ``trainer.evaluation.crossval``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), "/usr/share/qgis/python/plugins"]
MODELS = {
    "eurosat_s2": ("EuroSAT Sentinel-2 classifier (Galileo nano + logistic head)", ""),
    "eurosat_rgb": ("EuroSAT RGB classifier (Galileo nano + logistic head)", "B04=4,B03=3,B02=2"),
}
COARSE = {"30m": 30.0}  # condition name -> pixel size (m) of the degraded layer
FEATURES = {"": "auto", "statistics_": "statistics"}  # column prefix -> FEATURES of csp:train_classifier


def labelled_records() -> pd.DataFrame:
    """The labelled EuroSAT patches in ``python -m trainer crossval``'s order (``image_path, label, class_name``)."""
    from trainer.data.registry import image_records

    records = image_records("eurosat_all")
    return records[records["label"] >= 0].reset_index(drop=True)[["image_path", "label", "class_name"]]


def mosaic(patches: pd.DataFrame, folder: Path, name: str):
    """The patches side by side (``folder/scene.tif``) and their centre points, styled with the EuroSAT
    colours, as a layer named ``name``; returns ``(raster path, points layer, centres (N, 2))``."""
    from qgis.core import QgsVectorLayer

    from qgis_csp_plugin.qgis_io.styling import apply_categorized
    from trainer.data.catalog import EUROSAT_CLASSES, EUROSAT_COLORS
    from trainer.data.eurosat_mosaic import build_mosaic

    folder.mkdir(parents=True, exist_ok=True)
    scene, labels = folder / "scene.tif", folder / "labels.gpkg"
    build_mosaic([Path(p) for p in patches["image_path"]], list(patches["class_name"]), scene, labels, columns=20)
    layer = QgsVectorLayer(f"{labels}|layername=centres", name, "ogr")
    apply_categorized(layer, "class", [(c, c, color) for c, color in zip(EUROSAT_CLASSES, EUROSAT_COLORS, strict=True)])
    points = sorted(layer.getFeatures(), key=lambda f: f.id())
    centres = np.array([[f.geometry().asPoint().x(), f.geometry().asPoint().y()] for f in points])
    return scene, layer, centres


def coarse_copy(scene: Path, pixel_m: float) -> Path:
    """``scene`` area-averaged to ``pixel_m`` pixels (GDAL), anchored at its top-left corner."""
    from osgeo import gdal

    out = scene.with_name(f"{scene.stem}_{pixel_m:g}m.tif")
    gdal.Warp(str(out), str(scene), xRes=pixel_m, yRes=pixel_m, resampleAlg="average", creationOptions=["TILED=YES"])
    return out


def train(scene: Path, labels, encoder: Path, bands: str, features: str, output: Path, name: str) -> dict:
    """csp:train_classifier with ``encoder``; the algorithm's outputs and its log."""
    import processing

    from qgis_csp_plugin.processing.train_classifier_algorithm import FEATURE_CHOICES

    feedback = _logged_feedback()
    params = {"INPUT": str(scene), "ENCODER": str(encoder), "LABELS": labels, "CLASS_FIELD": "class",
              "FEATURES": FEATURE_CHOICES.index(features), "C": 0, "NAME": name, "OUTPUT": str(output)}
    if bands:
        params["BANDS"] = bands
    result = processing.run("csp:train_classifier", params, feedback=feedback)
    return {**result, "log": feedback.lines}


def _logged_feedback():
    """A Processing feedback that keeps the algorithm's log lines in ``.lines``."""
    from qgis.core import QgsProcessingFeedback

    class Logged(QgsProcessingFeedback):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def pushInfo(self, info: str) -> None:  # noqa: N802 (QGIS API name)
            self.lines.append(info)
            super().pushInfo(info)

    return Logged()


def classes_at(scene: Path, model: str, centres: np.ndarray, folder: Path) -> np.ndarray:
    """csp:classify of ``scene`` and the class id of its class raster at each centre."""
    import processing
    import rasterio

    folder.mkdir(parents=True, exist_ok=True)
    result = processing.run("csp:classify", {"INPUT": str(scene), "MODEL": model,
                                             "OUTPUT_VECTOR": str(folder / "tiles.gpkg"),
                                             "OUTPUT_CLASSES": str(folder / "classes.tif")})
    with rasterio.open(result["OUTPUT_CLASSES"]) as src:
        return np.array([v[0] for v in src.sample([tuple(p) for p in centres])], dtype=np.int64)


def cross_validate(stem: str, records: pd.DataFrame, encoder: Path, folds: int,
                   work: Path) -> tuple[pd.DataFrame, list[dict]]:
    """One row per patch: its label and the class each recipe gives it, as it is and degraded; per fold what
    csp:train_classifier chose."""
    from trainer.data.splits import fold_split

    name, bands = MODELS[stem]
    rows, chosen = [], []
    for fold in range(folds):
        split = fold_split(records, folds, fold, 0.0, 0)
        train_dir, test_dir = work / stem / f"fold{fold}" / "train", work / stem / f"fold{fold}" / "test"
        train_scene, labels, _ = mosaic(split["train"], train_dir, f"EuroSAT fold {fold} training patches")
        test_scene, _, centres = mosaic(split["test"], test_dir, f"EuroSAT fold {fold} test patches")
        scenes = {"native": test_scene, **{c: coarse_copy(test_scene, m) for c, m in COARSE.items()}}
        part = split["test"].reset_index(drop=True).assign(fold=fold)
        for prefix, features in FEATURES.items():
            start = time.perf_counter()
            trained = train(train_scene, labels, encoder, bands, features, train_dir / f"{prefix or 'auto_'}model.onnx",
                            name)
            for condition, scene in scenes.items():
                part[prefix + condition] = classes_at(scene, trained["OUTPUT"], centres,
                                                      test_dir / f"{prefix}{condition}")
            chosen.append({"fold": fold, "requested": features, "chosen": trained["FEATURES"],
                           "cv_accuracy": round(trained["CV_ACCURACY"], 4),
                           "chosen_line": next((line for line in trained["log"] if line.startswith("chosen:")), ""),
                           "seconds": round(time.perf_counter() - start, 1)})
            print(f"{stem} fold {fold} {features}: " + json.dumps(chosen[-1]) + "; top-1 " + ", ".join(
                f"{c} {(part[prefix + c] == part['label']).mean():.3f}" for c in scenes), flush=True)
        rows.append(part)
    return pd.concat(rows, ignore_index=True), chosen


def write_report(stem: str, frame: pd.DataFrame, chosen: list[dict], records: pd.DataFrame, folds: int,
                 out: Path, command: str) -> None:
    """``<out>.csv`` and ``<out>.md``: pooled accuracy and per-class recall with Wilson intervals, per recipe."""
    import os

    from trainer.evaluation.crossval import accuracy_table, markdown_accuracy

    conditions = ["native", *COARSE]
    class_names = [str(n) for n in records.drop_duplicates("label").sort_values("label")["class_name"]]
    tables = []
    for prefix, features in FEATURES.items():
        recipe = frame.assign(**{c: frame[prefix + c] for c in conditions})
        table = markdown_accuracy(accuracy_table(recipe, conditions, class_names), conditions)
        title = {"auto": "the shipped recipe (FEATURES auto: Galileo embedding and/or band statistics, chosen by "
                         "the algorithm's CV)", "statistics": "the baseline (FEATURES statistics: per-band tile "
                                                              "mean, std and centre pixel + logistic regression)"}
        tables.append(f"### {title[features]}\n\n{table}\n")
    picks = pd.DataFrame(chosen)
    picked = "; ".join(f"fold {r.fold}: {r.chosen_line.removeprefix('chosen: ')}"
                       for r in picks[picks.requested == "auto"].itertuples())
    frame = frame.assign(image_path=[os.path.relpath(p, REPO) for p in frame["image_path"]])
    frame.to_csv(out.with_suffix(".csv"), index=False)
    name = MODELS[stem][0]
    out.with_suffix(".md").write_text(
        f"# 5-fold cross-validated accuracy: {name}\n\nProduced by `{command}`.\n\n"
        f"Each of the {len(frame)} labelled EuroSAT patches is tested once ({folds}-fold stratified partition of "
        "`python -m trainer crossval`, split_seed 0): `csp:train_classifier` (encoder "
        "`models/galileo_nano_encoder.onnx`, C chosen by its own CV) on the other folds' patches laid side by side "
        "with a labelled point at each centre, `csp:classify` on the fold's patches (64 px tiles = the patches), "
        "the class at each centre. Conditions: `native` (the patches as they are, 10 m) and `30m` (the fold's "
        "mosaic area-averaged to 30 m pixels by GDAL; Classify reads it at the model's 10 m, as any 30 m layer). "
        "Per class: recall; `all`: accuracy. Brackets: 95 % Wilson score intervals over the pooled patches.\n\n"
        + "\n".join(tables) + f"\nChosen per fold (shipped recipe): {picked}.\n")
    print(out.with_suffix(".md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--encoder", type=Path, default=REPO / "models" / "galileo_nano_encoder.onnx")
    parser.add_argument("--results", type=Path, default=REPO / "docs" / "results")
    parser.add_argument("--folds", type=int, default=0, help="cross-validate first with this many folds (0: no)")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "default_heads")
    args = parser.parse_args()
    from scripts.headless_qgis import start_qgis, stop_qgis

    app = start_qgis()
    try:
        make_heads(args)
    finally:
        stop_qgis(app)  # after make_heads' layers are gone


def make_heads(args: argparse.Namespace) -> None:
    """Cross-validate (``--folds``) and write each head of ``--only``."""
    records = labelled_records()
    command = "python scripts/train_default_heads.py " + shlex.join(
        a if not a.startswith(str(REPO)) else str(Path(a).relative_to(REPO)) for a in sys.argv[1:])
    for stem in args.only:
        if args.folds:
            frame, chosen = cross_validate(stem, records, args.encoder, args.folds, args.work / "cv")
            args.results.mkdir(parents=True, exist_ok=True)
            write_report(stem, frame, chosen, records, args.folds, args.results / f"{stem}_galileo_cv", command)
        name, bands = MODELS[stem]
        scene, labels, _ = mosaic(records, args.work / "all", f"EuroSAT {len(records)} patch centres")
        args.models_dir.mkdir(parents=True, exist_ok=True)
        trained = train(scene, labels, args.encoder, bands, "auto", args.models_dir / f"{stem}.onnx", name)
        print("\n".join(trained["log"]))
        print(f"wrote {trained['OUTPUT']}: {trained['FEATURES']}, nested CV accuracy {trained['CV_ACCURACY']:.3f}")


if __name__ == "__main__":
    main()
