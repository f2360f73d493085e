"""Few-label mapping on a labelled real scene: SSL encoder + logistic head vs random-init encoder vs
per-pixel Random Forest, 5 and 20 labels per class, several seeds, all scored by csp:accuracy_assessment.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python scripts/few_label_experiment.py \\
        --moco runs/moco_eurosat_small/checkpoints/last.ckpt --out runs/few_label [--seeds 0 1 2 3 4]

Scene: the EuroSAT patches the MoCo encoder never saw — the 269 of ``../shared/data/eurosat_ms_extra``
not among the shipped 200, plus the validation and test split (``split_seed 0``) of the shipped 200 —
laid side by side in one 13-band GeoTIFF (``trainer.data.eurosat_mosaic``), one labelled point per
patch centre. Per seed, ``n`` patches per class are drawn for training; every other patch is a test
sample (never used for training or model choice).

(a) csp:train_classifier with the MoCo encoder, csp:classify (64 px tiles = the patches), assessed;
(b) the same with a randomly initialised encoder of the same architecture and normalisation;
(c) scikit-learn Random Forest (100 trees) on the 13 band values of the training points' pixels,
    applied to every pixel (SCP's per-pixel approach), assessed on the same test points.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), "/usr/share/qgis/python/plugins"]
SHARED = REPO.parent / "shared" / "data"
METHODS = ("ssl_logistic", "random_logistic", "pixel_random_forest")


def scene_patches() -> pd.DataFrame:
    """``path, class_name`` of the patches unseen by the MoCo encoder, in a fixed order."""
    from trainer.data.sources import eurosat_records
    from trainer.data.splits import split_records

    shipped = split_records(eurosat_records(), 0.2, 0.2, seed=0)
    held = pd.concat([shipped["val"], shipped["test"]])[["image_path", "class_name"]]
    extra = pd.read_csv(SHARED / "eurosat_ms_extra" / "index.csv")
    extra = extra[~extra["also_in_geotorchai_200"]]
    extra = pd.DataFrame({"image_path": [str(SHARED / "eurosat_ms_extra" / p) for p in extra["path"]],
                          "class_name": extra["label"]})
    return pd.concat([held, extra]).sort_values(["class_name", "image_path"]).reset_index(drop=True)


def random_encoder(moco_checkpoint: Path, out: Path) -> Path:
    """A MoCo task of the same architecture, untrained, with the trained one's band statistics."""
    import torch

    from trainer.export.onnx_writer import export_onnx
    from trainer.tasks.moco import MocoTask

    trained = MocoTask.load_from_checkpoint(moco_checkpoint, map_location="cpu")
    torch.manual_seed(0)
    untrained = MocoTask(**{**trained.hparams, "seed": 0})
    untrained.band_mean.copy_(trained.band_mean)
    untrained.band_std.copy_(trained.band_std)
    export_onnx(untrained.eval().export_spec("image_encoder", name="random-init encoder"), out)
    return out


def forest_map(scene: Path, train_xy: np.ndarray, train_labels: list[str], class_names: list[str],
               out: Path, seed: int) -> Path:
    """Per-pixel Random Forest on the band values at the training points, applied to every pixel."""
    from sklearn.ensemble import RandomForestClassifier

    from qgis_csp_plugin.core.geotiff import CLASS_NAMES_KEY

    with rasterio.open(scene) as src:
        pixels = src.read().astype(np.float32)
        rows, cols = rasterio.transform.rowcol(src.transform, train_xy[:, 0], train_xy[:, 1])
        profile = src.profile
    features = pixels[:, np.asarray(rows), np.asarray(cols)].T
    labels = np.array([class_names.index(c) for c in train_labels])
    forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(features, labels)
    flat = pixels.reshape(len(pixels), -1).T
    predicted = np.concatenate([forest.predict(flat[i:i + 200_000]) for i in range(0, len(flat), 200_000)])
    image = predicted.reshape(pixels.shape[1:]).astype(np.uint8)
    image[(pixels == 0).all(axis=0)] = 255
    profile.update(count=1, dtype="uint8", nodata=255)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(image, 1)
        dst.update_tags(1, **{CLASS_NAMES_KEY: json.dumps(class_names)})
    return out


def run(args: argparse.Namespace) -> list[dict]:
    import processing
    from qgis.core import QgsVectorLayer

    from trainer.data.eurosat_mosaic import build_mosaic

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    patches = scene_patches()
    scene, labels_path = out / "scene.tif", out / "labels.gpkg"
    build_mosaic([Path(p) for p in patches["image_path"]], list(patches["class_name"]), scene, labels_path,
                 columns=20)
    encoders = {"ssl_logistic": args.encoder, "random_logistic": random_encoder(args.moco, out / "random_encoder.onnx")}
    centres = QgsVectorLayer(f"{labels_path}|layername=centres", "centres", "ogr")
    features = sorted(centres.getFeatures(), key=lambda f: f.id())
    class_names = sorted(set(patches["class_name"]))
    results = []
    for n in args.labels:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            train_ids = [int(fid) for name in class_names for fid in
                         rng.choice([f.id() for f in features if f["class"] == name], n, replace=False)]
            train_layer = QgsVectorLayer(f"{labels_path}|layername=centres", "train", "ogr")
            train_layer.setSubsetString(f"fid IN ({','.join(map(str, train_ids))})")
            test_layer = QgsVectorLayer(f"{labels_path}|layername=centres", "test", "ogr")
            test_layer.setSubsetString(f"fid NOT IN ({','.join(map(str, train_ids))})")
            run_dir = out / f"n{n}_seed{seed}"
            run_dir.mkdir(exist_ok=True)
            maps = {}
            for method, encoder in encoders.items():
                start = time.perf_counter()
                model = processing.run("csp:train_classifier", {
                    "INPUT": str(scene), "ENCODER": str(encoder), "LABELS": train_layer, "CLASS_FIELD": "class",
                    "OUTPUT": str(run_dir / f"{method}.onnx")})
                maps[method] = processing.run("csp:classify", {
                    "INPUT": str(scene), "MODEL": model["OUTPUT"], "OUTPUT_VECTOR": str(run_dir / f"{method}.gpkg"),
                    "OUTPUT_CLASSES": str(run_dir / f"{method}.tif")})["OUTPUT_CLASSES"], time.perf_counter() - start
            start = time.perf_counter()
            train_xy = np.array([[f.geometry().asPoint().x(), f.geometry().asPoint().y()]
                                 for f in features if f.id() in set(train_ids)])
            train_labels = [f["class"] for f in features if f.id() in set(train_ids)]
            maps["pixel_random_forest"] = str(forest_map(scene, train_xy, train_labels, class_names,
                                                         run_dir / "pixel_random_forest.tif", seed)), \
                time.perf_counter() - start
            for method, (class_map, seconds) in maps.items():
                report = processing.run("csp:accuracy_assessment", {
                    "CLASSIFICATION": class_map, "REFERENCE": test_layer, "REFERENCE_FIELD": "class",
                    "OUTPUT_CSV": str(run_dir / f"{method}_accuracy.csv"),
                    "OUTPUT_HTML": str(run_dir / f"{method}_accuracy.html")})
                rows = pd.read_csv(run_dir / f"{method}_accuracy.csv")
                results.append({"labels_per_class": n, "seed": seed, "method": method, "samples": report["SAMPLES"],
                                "overall": report["OVERALL_ACCURACY"], "kappa": report["KAPPA"],
                                "overall_adj": report.get("OVERALL_ACCURACY_ADJ"),
                                "overall_ci95": report.get("OVERALL_CI95"),
                                "macro_f1": float(rows["f1"].fillna(0).mean()), "seconds": seconds})
                print(json.dumps(results[-1]), flush=True)
    return results


def summarise(results: list[dict]) -> str:
    """Markdown: mean ± std over seeds per method, and paired differences of (a) against (b) and (c)."""
    frame = pd.DataFrame(results)
    lines = ["| labels/class | method | overall accuracy | ± 95 % CI (one run, Olofsson) | kappa | macro F1 |",
             "|---|---|---|---|---|---|"]
    for (n, method), group in frame.groupby(["labels_per_class", "method"], sort=False):
        lines.append(f"| {n} | {method} | {group.overall.mean():.3f} ± {group.overall.std():.3f} | "
                     f"{group.overall_ci95.mean():.3f} | {group.kappa.mean():.3f} | {group.macro_f1.mean():.3f} |")
    lines += ["", "| labels/class | difference | mean ± std over seeds | seeds won | min |", "|---|---|---|---|---|"]
    for n, group in frame.groupby("labels_per_class"):
        table = group.pivot(index="seed", columns="method", values="overall")
        for other in METHODS[1:]:
            diff = table[METHODS[0]] - table[other]
            lines.append(f"| {n} | {METHODS[0]} − {other} | {diff.mean():+.3f} ± {diff.std():.3f} | "
                         f"{int((diff > 0).sum())}/{len(diff)} | {diff.min():+.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moco", type=Path, required=True, help="MoCo checkpoint (for the random-init twin)")
    parser.add_argument("--encoder", type=Path, default=REPO / "models" / "moco_eurosat_encoder.onnx")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "few_label")
    parser.add_argument("--labels", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--summarise", type=Path, help="only print the tables of an earlier results.json")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(json.loads(args.summarise.read_text())))
        return
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    from qgis_csp_plugin.processing.provider import CspProvider

    Processing.initialize()
    provider = CspProvider()  # referenced: QGIS keeps only the C++ object
    QgsApplication.processingRegistry().addProvider(provider)
    results = run(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(summarise(results))


if __name__ == "__main__":
    main()
