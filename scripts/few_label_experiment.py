"""Few-label mapping on EuroSAT patches an encoder never saw: band statistics + logistic regression vs
per-pixel and window Random Forests vs encoder embeddings vs what csp:train_classifier picks by itself,
at 5 and 20 labels per class over 5 seeds, with paired differences against band statistics + LR.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python scripts/few_label_experiment.py \\
        --unseen-by eurosat --encoder "MoCo (previous)=runs/few_label/moco_previous.onnx" \\
        --out runs/few_label [--labels 5 20] [--seeds 0 1 2 3 4]

Scene: the labelled EuroSAT patches (469: the 200 in data/ + 269 of ``../shared/data/eurosat_ms_extra``)
minus the training split (``split_seed`` 0) of ``--unseen-by``, the EuroSAT source the encoders'
self-supervised pre-training used: ``eurosat`` (the shipped 200; the previous MoCo encoder, 120 patches
seen, 349 left) or ``eurosat_all`` (the shipped ``models/moco_eurosat_encoder.onnx``, 281 seen, 188 left:
16-20 per class, too few for 20 labels per class). The patches are laid side by side in one 13-band
GeoTIFF (``trainer.data.eurosat_mosaic``), one labelled point per patch centre. Per seed, ``n`` points
per class are drawn for training, the same for every row; every other point is a test sample, never
used for training or for any choice.

Rows (each scored by overall accuracy and macro F1 on the test points, ``core/accuracy.py``):

- ``statistics + LR``: csp:train_classifier with FEATURES=statistics (per-band mean, std and the
  centre pixel's spectrum of the 64 px tile, class-balanced L2 logistic regression, C chosen by the
  algorithm's own k-fold CV), then csp:classify (64 px tiles = the patches), read at the test points;
- ``pixel RF``: scikit-learn Random Forest (100 trees) on the 13 band values of the training points'
  pixels, applied to the test points' pixels (SCP's per-pixel approach; the class a per-pixel map has
  at the point);
- ``window RF``: the same forest on the per-band mean and std of the 64 px window around each point;
- per encoder ``NAME`` (``--encoder NAME=PATH``, repeatable): ``NAME`` (FEATURES=embedding),
  ``NAME + statistics`` (FEATURES=embedding+statistics) and ``picks by itself (NAME)`` (FEATURES=auto:
  the plugin's own choice among statistics, embedding and both, and C, by its k-fold CV), each through
  csp:train_classifier and csp:classify like the first row.

HOOK for the released encoders (issue 28): Presto and Galileo rows are added by passing their exported
``image_encoder`` files, e.g. ``--encoder Presto=models/presto_encoder.onnx --encoder
Galileo=models/galileo_encoder.onnx``; csp:train_classifier feeds whatever inputs an encoder declares
(band mask, lat/lon, month) and the head passes them through, so nothing here changes. They never saw
EuroSAT, so either ``--unseen-by`` scene is fair to them.

Differences: per seed, row minus ``statistics + LR`` (same training and test points); mean and 95 %
confidence interval of the mean over the seeds from the paired t distribution (n - 1 degrees of
freedom), the paired t-test p-value, and the seeds won.
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
BASELINE = "statistics + LR"
FEATURE_ROWS = {"{}": "embedding", "{} + statistics": "embedding+statistics", "picks by itself ({})": "auto"}
WINDOW = 64


def scene_patches(unseen_by: str) -> pd.DataFrame:
    """``image_path, class_name`` of the labelled patches outside ``unseen_by``'s training split, in a fixed order."""
    from trainer.data.catalog import eurosat_source_records
    from trainer.data.splits import split_records

    every = eurosat_source_records("eurosat_all")
    seen = split_records(eurosat_source_records(unseen_by), 0.2, 0.2, seed=0)["train"]
    unseen = every[~every["image_path"].isin(seen["image_path"])]
    return unseen[["image_path", "class_name"]].sort_values(["class_name", "image_path"]).reset_index(drop=True)


def draw_training(classes: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` points per class (the same for every row of a seed)."""
    rng = np.random.default_rng(seed)
    names = sorted(set(classes))
    short = [c for c in names if (classes == c).sum() <= n]
    if short:
        raise SystemExit(f"{n} labels per class leave no test point for {', '.join(short)}: use fewer labels "
                         "or a larger scene (--unseen-by eurosat)")
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(classes == c), n, replace=False) for c in names]))


def point_pixels(scene: Path, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pixel spectra (N, C), window mean + std (N, 2C))`` of the scene at the points ``xy``."""
    from qgis_csp_plugin.core.tile_features import tile_statistics

    with rasterio.open(scene) as src:
        pixels = src.read().astype(np.float32)
        rows, cols = rasterio.transform.rowcol(src.transform, xy[:, 0], xy[:, 1])
    rows, cols = np.asarray(rows), np.asarray(cols)
    half = WINDOW // 2
    windows = np.stack([pixels[:, r - half:r + half, c - half:c + half] for r, c in zip(rows, cols, strict=True)])
    statistics = tile_statistics(windows)
    return pixels[:, rows, cols].T, np.concatenate([statistics["mean"], statistics["std"]], axis=1)


def forest(features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(features[train], labels[train])
    return model.predict(features[test])


def classify_at_points(scene: Path, model: str, xy: np.ndarray, out: Path) -> np.ndarray:
    """csp:classify (64 px tiles = the patches) and the class ids of its raster at the points ``xy``."""
    import processing

    classes = processing.run("csp:classify", {"INPUT": str(scene), "MODEL": model, "OUTPUT_VECTOR": str(out / "t.gpkg"),
                                              "OUTPUT_CLASSES": str(out / "classes.tif")})["OUTPUT_CLASSES"]
    with rasterio.open(classes) as src:
        return np.array([v[0] for v in src.sample([tuple(p) for p in xy])], dtype=np.int64)


def scores(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> dict[str, float]:
    from qgis_csp_plugin.core.accuracy import confusion_matrix, sample_accuracy

    accuracy = sample_accuracy(confusion_matrix(predicted, truth, n_classes))
    return {"overall": float(accuracy.overall), "kappa": float(accuracy.kappa),
            "macro_f1": float(np.nanmean(np.nan_to_num(accuracy.f1)))}


def run(args: argparse.Namespace) -> list[dict]:
    from qgis.core import QgsVectorLayer

    from qgis_csp_plugin.contract.onnx_model import OnnxModel
    from trainer.data.eurosat_mosaic import build_mosaic

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    patches = scene_patches(args.unseen_by)
    scene, labels_path = out / "scene.tif", out / "labels.gpkg"
    build_mosaic([Path(p) for p in patches["image_path"]], list(patches["class_name"]), scene, labels_path,
                 columns=20)
    centres = QgsVectorLayer(f"{labels_path}|layername=centres", "centres", "ogr")
    features = sorted(centres.getFeatures(), key=lambda f: f.id())
    fids = np.array([f.id() for f in features])
    xy = np.array([[f.geometry().asPoint().x(), f.geometry().asPoint().y()] for f in features])
    classes = np.array([f["class"] for f in features])
    class_names = sorted(set(classes))
    truth = np.array([class_names.index(c) for c in classes])
    spectra, windows = point_pixels(scene, xy)
    print(f"scene: {len(features)} patches unseen by the {args.unseen_by} training split, per class "
          + ", ".join(f"{c} {(classes == c).sum()}" for c in class_names), flush=True)
    encoders = dict(args.encoder)
    rows = [(BASELINE, next(iter(encoders.values())), "statistics")] + [
        (row.format(name), path, chosen) for name, path in encoders.items() for row, chosen in FEATURE_ROWS.items()]
    results = []
    for n in args.labels:
        for seed in args.seeds:
            train = draw_training(classes, n, seed)
            test = np.setdiff1d(np.arange(len(features)), train)
            run_dir = out / f"n{n}_seed{seed}"
            layer = QgsVectorLayer(f"{labels_path}|layername=centres", "train", "ogr")
            layer.setSubsetString(f"fid IN ({','.join(map(str, fids[train]))})")
            runs = []
            for method, encoder, feature_set in rows:
                start = time.perf_counter()
                model_dir = run_dir / "".join(c if c.isalnum() else "_" for c in method)
                model_dir.mkdir(parents=True, exist_ok=True)
                trained = _train(scene, encoder, layer, feature_set, model_dir / "model.onnx")
                predicted = classify_at_points(scene, trained["OUTPUT"], xy[test], model_dir)
                meta = OnnxModel.load(trained["OUTPUT"]).metadata
                runs.append((method, predicted, time.perf_counter() - start, {
                    "chosen": meta.training["features"], "c": meta.training["l2_c"],
                    "cv_accuracy": meta.metrics["cv_accuracy"],
                    "cv_accuracy_chosen": meta.metrics.get("cv_accuracy_chosen")}))
            for method, values in (("pixel RF", spectra), ("window RF", windows)):
                start = time.perf_counter()
                runs.append((method, forest(values, truth, train, test, seed), time.perf_counter() - start, {}))
            for method, predicted, seconds, extra in runs:
                results.append({"labels_per_class": n, "seed": seed, "method": method, "samples": len(test),
                                **scores(predicted, truth[test], len(class_names)), "seconds": round(seconds, 1),
                                **extra})
                print(json.dumps(results[-1]), flush=True)
    return results


def _train(scene: Path, encoder: Path, layer, features: str, output: Path) -> dict:
    import processing

    from qgis_csp_plugin.processing.train_classifier_algorithm import FEATURE_CHOICES

    return processing.run("csp:train_classifier", {
        "INPUT": str(scene), "ENCODER": str(encoder), "LABELS": layer, "CLASS_FIELD": "class",
        "FEATURES": FEATURE_CHOICES.index(features), "C": 0, "OUTPUT": str(output)})


def summarise(results: list[dict]) -> str:
    """Markdown: per row mean ± std over seeds (and what the plugin chose), then paired differences vs the baseline."""
    from scipy import stats

    frame = pd.DataFrame(results)
    lines = ["| labels/class | method | overall accuracy, mean ± std over seeds | kappa | macro F1 | chosen (seeds) "
             "| reported CV accuracy: nested / of the chosen candidate |", "|---|---|---|---|---|---|---|"]
    for (n, method), group in frame.groupby(["labels_per_class", "method"], sort=False):
        chosen, reported = "", ""
        if "chosen" in group and group["chosen"].notna().any():
            picks = group.apply(lambda r: f"{r['chosen']} C={r['c']:g}", axis=1).value_counts()
            chosen = "; ".join(f"{k} ×{v}" for k, v in picks.items())
            reported = f"{group.cv_accuracy.mean():.3f} / {group.cv_accuracy_chosen.mean():.3f}"
        lines.append(f"| {n} | {method} | {group.overall.mean():.3f} ± {group.overall.std():.3f} | "
                     f"{group.kappa.mean():.3f} | {group.macro_f1.mean():.3f} | {chosen} | {reported} |")
    lines += ["", f"Paired differences of overall accuracy vs {BASELINE} (same seed = same training and test points); "
              "95 % CI of the mean difference from the paired t distribution over the seeds:", "",
              "| labels/class | method − statistics + LR | mean | 95 % CI | seeds won / tied / lost | paired t p |",
              "|---|---|---|---|---|---|"]
    for n, group in frame.groupby("labels_per_class"):
        table = group.pivot(index="seed", columns="method", values="overall")
        for method in group["method"].drop_duplicates():
            if method == BASELINE:
                continue
            diff = (table[method] - table[BASELINE]).to_numpy()
            half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
            p = f"{stats.ttest_rel(table[method], table[BASELINE]).pvalue:.3g}" if diff.std() > 0 else "— (equal)"
            low, high = diff.mean() - half, diff.mean() + half
            lines.append(f"| {n} | {method} | {diff.mean():+.3f} | [{low:+.3f}, {high:+.3f}] "
                         f"| {(diff > 0).sum()} / {(diff == 0).sum()} / {(diff < 0).sum()} | {p} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", type=_named_path, default=[], metavar="NAME=PATH",
                        help="an image_encoder ONNX file and its row name (repeatable; Presto/Galileo go here)")
    parser.add_argument("--unseen-by", choices=("eurosat", "eurosat_all"),
                        help="the EuroSAT source whose training split (split_seed 0) the encoders pre-trained on, "
                             "left out of the scene: eurosat (349 patches left) or eurosat_all (188)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "few_label")
    parser.add_argument("--labels", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--summarise", type=Path, help="only print the tables of an earlier results.json")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(json.loads(args.summarise.read_text())))
        return
    if not args.encoder or not args.unseen_by:
        parser.error("--encoder NAME=PATH and --unseen-by are required (unless --summarise)")
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


def _named_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH to an existing .onnx file, got {text!r}")
    return name, Path(path)


if __name__ == "__main__":
    main()
