"""Few-label mapping on EuroSAT patches the encoders never saw: band statistics + logistic regression vs
per-pixel and window Random Forests vs encoder embeddings vs what csp:train_classifier picks by itself,
at k labels per class over 5 seeds, with paired differences against band statistics + LR.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python scripts/few_label_experiment.py \\
        --encoder Galileo=models/galileo_nano_encoder.onnx --encoder Presto=models/presto_encoder.onnx \\
        --encoder "MoCo (previous)=runs/few_label/moco_previous.onnx" --seen "MoCo (previous)=eurosat" \\
        --out runs/few_label [--labels 5 10 20] [--seeds 0 1 2 3 4] [--bands B04=4,B03=3,B02=2]

Patches: the 469 labelled EuroSAT patches (the 200 in data/ + 269 of ``../shared/data/eurosat_ms_extra``).
An encoder pre-trained on EuroSAT patches names its source with ``--seen NAME=SOURCE``: the training split
(``split_seed`` 0) of ``eurosat`` (the shipped 200: 120 seen) or ``eurosat_all`` (281 seen). One table is
made per *scene*: all 469 patches (the encoders that saw none, e.g. the released Presto and Galileo), and
for each ``--seen`` source the patches outside its training split, with every encoder that saw none of
them. Per scene and seed, ``k`` patches per class are drawn for training, the same for every row; every
other patch is a test sample, never used for training or for any choice. A label count that leaves a
class without a test patch is skipped for that scene.

Features are those the plugin computes: each patch is its own layer (as EuroSAT distributes it) and goes
through csp:train_classifier's own steps (``jobs.train_classifier.prepare`` + ``embed_samples``: the band
mapping ``--bands``, default all of the encoder's bands by EuroSAT's file order, masked bands, (lat, lon)
of the patch centre from its georeference, the month: no date in a EuroSAT file, so the plugin's default,
July), one labelled point at the patch centre; they are computed once per encoder (cached in
``OUT/features``). The radiometric rule is the one the plugin picks for the scene of all 469 patches
(Sentinel-2 digital numbers): some all-water patches, each a layer of its own, are dark enough for the
"values far from reflectance x 10000" rule, which would rescale them (listed in ``OUT/checks.json``).
The heads are chosen and fitted by the plugin's own ``core.head_selection`` exactly as
``jobs.train_classifier.train`` calls it (folds, groups, weights, seed, candidates), and read at the test
patches as the ONNX head computes them. ``--check-plugin`` (default on) also runs, at seed 0 of each label
count of the first scene, the real csp:train_classifier + csp:classify on the patches laid side by side in
one GeoTIFF (``trainer.data.eurosat_mosaic``; 64 px tiles = the patches) for the baseline and the first
encoder's "picks by itself", and reports how many test patches get the same class: the first encoder must
not take (lat, lon) (the mosaic's georeference is not the patches').

Rows (overall accuracy, kappa, macro F1 on the test patches, ``core/accuracy.py``):

- ``statistics + LR``: FEATURES=statistics with the first ``--encoder`` (its bands, after its radiometric
  rule): per-band mean, std and centre pixel of the 64 px tile, class-balanced L2 logistic regression,
  C chosen by the algorithm's own k-fold CV;
- ``pixel RF``: scikit-learn Random Forest (100 trees) on the raw values of the patch's centre pixel in the
  ``--bands`` (default all 13) (SCP's per-pixel approach);
- ``window RF``: the same forest on the per-band mean and std of the 64 px patch;
- per encoder ``NAME`` (``--encoder NAME=PATH``, repeatable; the first is the default encoder):
  ``NAME`` (FEATURES=embedding), ``NAME + statistics`` (FEATURES=embedding+statistics) and
  ``picks by itself (NAME)`` (FEATURES=auto: the choice among statistics, embedding and both, and C,
  by k-fold CV on the training labels; the reported CV accuracy is the nested estimate).

Differences: per seed, row minus ``statistics + LR`` (same training and test patches); mean and 95 %
confidence interval of the mean over the seeds from the paired t distribution (n - 1 degrees of
freedom), the paired t-test p-value, and the seeds won / tied / lost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), "/usr/share/qgis/python/plugins"]
BASELINE = "statistics + LR"
FEATURE_ROWS = {"{}": "embedding", "{} + statistics": "embedding+statistics", "picks by itself ({})": "auto"}
ALL = "all"


@dataclass
class Scene:
    """A set of patches (row positions in the 469 records) and the encoders that saw none of them."""

    name: str
    rows: np.ndarray
    encoders: list[str]


def records() -> pd.DataFrame:
    """``image_path, class_name`` of the 469 labelled patches, in a fixed order (the mosaic's order)."""
    from trainer.data.catalog import eurosat_source_records

    every = eurosat_source_records("eurosat_all")
    return every[["image_path", "class_name"]].sort_values(["class_name", "image_path"]).reset_index(drop=True)


def seen_paths(source: str) -> set[str]:
    """The patches of ``source``'s training split (split_seed 0): what an encoder pre-trained on it saw."""
    from trainer.data.catalog import eurosat_source_records
    from trainer.data.splits import split_records

    return set(split_records(eurosat_source_records(source), 0.2, 0.2, seed=0)["train"]["image_path"])


def scenes(patches: pd.DataFrame, encoders: list[str], seen: dict[str, str]) -> list[Scene]:
    """All patches with the encoders that saw none; per ``--seen`` source its unseen patches."""
    saw = {name: seen_paths(seen[name]) if name in seen else set() for name in encoders}
    paths = patches["image_path"]
    result = []
    for source in [ALL, *dict.fromkeys(seen.values())]:
        keep = np.ones(len(paths), bool) if source == ALL else ~paths.isin(seen_paths(source)).to_numpy()
        fit = [name for name in encoders if not saw[name] & set(paths[keep])]
        if fit:
            result.append(Scene("all 469 patches" if source == ALL else f"unseen by the {source} training split",
                                np.flatnonzero(keep), fit))
    return result


def plugin_features(patches: pd.DataFrame, encoder: Path, bands: dict[str, int] | None,
                    cache: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Feature blocks ``(469, ·)`` of every patch as csp:train_classifier computes them (each patch its own
    layer, one labelled point at its centre; the radiometric rule the plugin picks for the scene of all
    patches) and facts: the notes, the patches whose own rule would differ, the seconds per patch."""
    from qgis.core import QgsRasterLayer

    from qgis_csp_plugin.contract.onnx_model import read_metadata
    from qgis_csp_plugin.jobs.raster_input import layer_inputs
    from trainer.data.bands import EUROSAT_BANDS
    from trainer.data.eurosat_mosaic import build_mosaic

    if cache.is_file():
        saved = np.load(cache, allow_pickle=False)
        return {k: saved[k] for k in saved.files if k != "_facts"}, json.loads(str(saved["_facts"]))
    meta = read_metadata(encoder)
    choice = {b: EUROSAT_BANDS.index(b) + 1 for b in meta.bands} if bands is None else \
        {b: layer for b, layer in bands.items() if b in meta.bands}
    mosaic = cache.parent / "all_patches.tif"
    if not mosaic.is_file():
        mosaic.parent.mkdir(parents=True, exist_ok=True)
        build_mosaic([Path(p) for p in patches["image_path"]], list(patches["class_name"]), mosaic,
                     mosaic.with_suffix(".gpkg"), columns=20)
    layer = QgsRasterLayer(str(mosaic), "all patches")
    scene = layer_inputs(layer, meta, layer.extent(), choice)
    start, blocks, facts = time.perf_counter(), [], {"scene_notes": scene.notes, "own_rule_differs": []}
    for i, path in enumerate(patches["image_path"]):
        features, notes = _patch_features(Path(path), encoder, choice, scene.transform)
        blocks.append(features)
        facts.setdefault("patch_notes", notes)
        own_rule = [n for n in notes if n.startswith("radiometry")]
        if own_rule != [n for n in scene.notes if n.startswith("radiometry")]:
            facts["own_rule_differs"].append(f"{Path(path).name}: {'; '.join(own_rule)}")
        if (i + 1) % 50 == 0:
            print(f"  {encoder.name}: {i + 1}/{len(patches)} patches", flush=True)
    facts["seconds_per_patch"] = round((time.perf_counter() - start) / len(patches), 3)
    result = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
    np.savez(cache, **result, _facts=json.dumps(facts))
    return result, facts


def _patch_features(path: Path, encoder: Path, bands: dict[str, int],
                    transform) -> tuple[dict[str, np.ndarray], list[str]]:
    """csp:train_classifier's own preparation and embedding of one patch layer with a point at its centre,
    the pixels brought to reflectance by ``transform`` (the scene's rule). The labels layer needs two
    classes of two points each to pass the algorithm's label checks; only the first point is embedded."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsRasterLayer, QgsVectorLayer

    from qgis_csp_plugin.jobs.train_classifier import TrainRequest, embed_samples, prepare

    layer = QgsRasterLayer(str(path), path.stem)
    points = QgsVectorLayer(f"Point?crs={layer.crs().authid()}&field=class:string", "centre", "memory")
    centre = QgsGeometry.fromPointXY(QgsPointXY(layer.extent().center()))
    features = []
    for label in "aabb":
        feature = QgsFeature(points.fields())
        feature.setAttribute("class", label)
        feature.setGeometry(centre)
        features.append(feature)
    points.dataProvider().addFeatures(features)
    job = prepare(TrainRequest(layer, encoder, points, "class", path.with_suffix(".unused.onnx"), bands=bands))
    job.transform = transform
    first = np.array([True, False, False, False])
    job.samples = job.samples.subset(first)
    if job.latlon is not None:
        job.latlon = job.latlon[first]
    blocks, kept = embed_samples(job)
    if not kept.all():
        raise SystemExit(f"{path}: the centre pixel is nodata")
    return blocks, job.notes + job.warnings


def raw_pixels(patches: pd.DataFrame, layer_bands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(centre pixel (N, C), patch mean + std (N, 2C))`` of the raw values of the 1-based ``layer_bands``."""
    import rasterio

    from qgis_csp_plugin.core.tile_features import tile_statistics

    tiles = []
    for path in patches["image_path"]:
        with rasterio.open(path) as src:
            tiles.append(src.read(layer_bands).astype(np.float32))
    statistics = tile_statistics(np.stack(tiles))
    return statistics["centre"], np.concatenate([statistics["mean"], statistics["std"]], axis=1)


def train_like_plugin(blocks: dict[str, np.ndarray], y: np.ndarray, n_classes: int, groups: np.ndarray,
                      features: str):
    """``(head, block names, selection)`` as ``jobs.train_classifier.train`` makes them for point labels
    (``features``: a feature set or ``auto``; C always chosen by CV)."""
    from qgis_csp_plugin.core.head_selection import C_GRID, fit_head, select_head
    from qgis_csp_plugin.core.tile_features import FEATURE_SETS, feature_blocks, statistic_blocks
    from qgis_csp_plugin.jobs.train_classifier import AUTO, MAX_FOLDS

    feature_sets = FEATURE_SETS if features == AUTO else (features,)
    per_class = [len(np.unique(groups[y == k])) for k in range(n_classes)]
    folds = max(2, min(MAX_FOLDS, min(per_class)))
    statistics = statistic_blocks("point")
    weights = np.ones(len(y))
    selection = select_head(blocks, statistics, y, n_classes, groups, folds, weights, 0, feature_sets, C_GRID)
    names = feature_blocks(selection.chosen.features, statistics)
    return fit_head(blocks, names, y, n_classes, selection.chosen.c, weights), names, selection


def predict(head, names: tuple[str, ...], blocks: dict[str, np.ndarray]) -> np.ndarray:
    from qgis_csp_plugin.core.tile_features import feature_matrix

    return head.predict_proba(feature_matrix(blocks, names)).argmax(axis=1)


def draw_training(classes: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` points per class (the same for every row of a seed)."""
    rng = np.random.default_rng(seed)
    names = sorted(set(classes))
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(classes == c), n, replace=False) for c in names]))


def forest(features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(features[train], labels[train])
    return model.predict(features[test])


def scores(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> dict[str, float]:
    from qgis_csp_plugin.core.accuracy import confusion_matrix, sample_accuracy

    accuracy = sample_accuracy(confusion_matrix(predicted, truth, n_classes))
    return {"overall": float(accuracy.overall), "kappa": float(accuracy.kappa),
            "macro_f1": float(np.nanmean(np.nan_to_num(accuracy.f1)))}


def subset(blocks: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in blocks.items()}


def run(args: argparse.Namespace) -> tuple[list[dict], list[dict], dict]:
    """Every row of every scene (results), the plugin checks, and per encoder its notes and seconds per patch."""
    patches = records()
    encoders = dict(args.encoder)
    default = next(iter(encoders))
    bands = args.bands
    features, facts = {}, {}
    for name, path in encoders.items():
        slug = "".join(c if c.isalnum() else "_" for c in f"{path.stem}_{args.bands_text or 'all'}")
        start = time.perf_counter()
        features[name], facts[name] = plugin_features(patches, path, bands, args.out / "features" / f"{slug}.npz")
        print(f"{name}: features of {len(patches)} patches ready ({time.perf_counter() - start:.0f} s); scene: "
              f"{'; '.join(facts[name]['scene_notes'])}; {len(facts[name]['own_rule_differs'])} patches would get "
              "another radiometric rule as layers of their own", flush=True)
    from trainer.data.bands import EUROSAT_BANDS

    layer_bands = sorted(set(bands.values())) if bands else list(range(1, len(EUROSAT_BANDS) + 1))
    spectra, windows = raw_pixels(patches, layer_bands)
    width = {name: blocks["mean"].shape[1] for name, blocks in features.items()}
    other_statistics = [(f"statistics ({bands} bands) + LR", name, "statistics") for bands, name in
                        {width[name]: name for name in reversed(encoders)}.items() if bands != width[default]]
    results, checks = [], []
    for index, scene in enumerate(scenes(patches, list(encoders), dict(args.seen))):
        classes = patches["class_name"].to_numpy()[scene.rows]
        class_names = sorted(set(classes))
        truth = np.array([class_names.index(c) for c in classes])
        groups = np.arange(1, len(scene.rows) + 1)  # the fids of the scene's labelled points
        counts = [int((classes == c).sum()) for c in class_names]
        smallest = min(counts)
        print(f"scene {scene.name}: {len(scene.rows)} patches ({smallest}-{max(counts)} per class), encoders "
              f"{', '.join(scene.encoders)}", flush=True)
        rows = [(BASELINE, default, "statistics"), *other_statistics] + [
            (row.format(name), name, chosen) for name in scene.encoders for row, chosen in FEATURE_ROWS.items()]
        for n in args.labels:
            if n >= smallest:
                print(f"  {n} labels per class leave a class without test patches: skipped", flush=True)
                continue
            for seed in args.seeds:
                train = draw_training(classes, n, seed)
                test = np.setdiff1d(np.arange(len(scene.rows)), train)
                runs = []
                for method, encoder, feature_set in rows:
                    start = time.perf_counter()
                    blocks = subset(features[encoder], scene.rows)
                    head, names, selection = train_like_plugin(subset(blocks, train), truth[train], len(class_names),
                                                               groups[train], feature_set)
                    predicted = predict(head, names, subset(blocks, test))
                    chosen = selection.chosen
                    runs.append((method, predicted, time.perf_counter() - start, {
                        "chosen": chosen.features, "c": chosen.c,
                        "cv_accuracy": float(np.mean(selection.predicted == truth[train])),
                        "cv_accuracy_chosen": chosen.accuracy}))
                    if args.check_plugin and index == 0 and seed == args.seeds[0] and \
                            method in (BASELINE, f"picks by itself ({default})"):
                        checks.append(check_plugin(args, scene, patches, encoders[default], feature_set, n, seed,
                                                   method, train, test, predicted, class_names))
                for method, values in (("pixel RF", spectra), ("window RF", windows)):
                    start = time.perf_counter()
                    predicted = forest(values[scene.rows], truth, train, test, seed)
                    runs.append((method, predicted, time.perf_counter() - start, {}))
                for method, predicted, seconds, extra in runs:
                    results.append({"scene": scene.name, "labels_per_class": n, "seed": seed, "method": method,
                                    "samples": len(test), **scores(predicted, truth[test], len(class_names)),
                                    "seconds": round(seconds, 2), **extra})
                    print(json.dumps(results[-1]), flush=True)
    return results, checks, facts


def check_plugin(args: argparse.Namespace, scene: Scene, patches: pd.DataFrame, encoder: Path, feature_set: str,
                 n: int, seed: int, method: str, train: np.ndarray, test: np.ndarray, predicted: np.ndarray,
                 class_names: list[str]) -> dict:
    """The real csp:train_classifier + csp:classify on the scene's mosaic: the test patches' classes vs
    ``predicted`` (this script's path)."""
    import processing
    import rasterio
    from qgis.core import QgsVectorLayer

    from qgis_csp_plugin.processing.train_classifier_algorithm import FEATURE_CHOICES
    from trainer.data.eurosat_mosaic import build_mosaic

    folder = args.out / "plugin_check"
    folder.mkdir(parents=True, exist_ok=True)
    mosaic, labels = folder / "scene.tif", folder / "labels.gpkg"
    if not mosaic.is_file():
        chosen = patches.iloc[scene.rows]
        build_mosaic([Path(p) for p in chosen["image_path"]], list(chosen["class_name"]), mosaic, labels, columns=20)
    layer = QgsVectorLayer(f"{labels}|layername=centres", "train", "ogr")
    fids = np.array(sorted(f.id() for f in layer.getFeatures()))
    xy = {f.id(): f.geometry().asPoint() for f in layer.getFeatures()}
    layer.setSubsetString(f"fid IN ({','.join(map(str, fids[train]))})")
    run_dir = folder / f"n{n}_seed{seed}_{''.join(c if c.isalnum() else '_' for c in method)}"
    run_dir.mkdir(exist_ok=True)
    start = time.perf_counter()
    params = {"INPUT": str(mosaic), "ENCODER": str(encoder), "LABELS": layer, "CLASS_FIELD": "class",
              "FEATURES": FEATURE_CHOICES.index(feature_set), "C": 0, "OUTPUT": str(run_dir / "model.onnx")}
    if args.bands:
        params["BANDS"] = args.bands_text
    trained = processing.run("csp:train_classifier", params)
    classified = processing.run("csp:classify", {"INPUT": str(mosaic), "MODEL": trained["OUTPUT"],
                                                 "OUTPUT_VECTOR": str(run_dir / "t.gpkg"),
                                                 "OUTPUT_CLASSES": str(run_dir / "classes.tif")})
    with rasterio.open(classified["OUTPUT_CLASSES"]) as src:
        points = [(xy[f].x(), xy[f].y()) for f in fids[test]]
        plugin = np.array([v[0] for v in src.sample(points)], dtype=np.int64)
    check = {"labels_per_class": n, "seed": seed, "method": method, "test_patches": len(test),
             "same_class": int((plugin == predicted).sum()), "plugin_features": trained["FEATURES"],
             "seconds": round(time.perf_counter() - start, 1)}
    print("plugin check: " + json.dumps(check), flush=True)
    return check


def summarise(results: list[dict]) -> str:
    """Markdown per scene: per row mean ± std over seeds (and what the plugin chose), then paired differences
    vs the baseline."""

    frame = pd.DataFrame(results)
    if "scene" not in frame:
        frame["scene"] = "scene"
    lines = []
    for scene, part in frame.groupby("scene", sort=False):
        lines += [f"#### {scene}", "",
                  "| labels/class | method | overall accuracy, mean ± std over seeds | kappa | macro F1 | "
                  "chosen (seeds) | reported CV accuracy: nested / of the chosen candidate |",
                  "|---|---|---|---|---|---|---|"]
        for (n, method), group in part.groupby(["labels_per_class", "method"], sort=False):
            chosen, reported = "", ""
            if "chosen" in group and group["chosen"].notna().any():
                picks = group.apply(lambda r: f"{r['chosen']} C={r['c']:g}", axis=1).value_counts()
                chosen = "; ".join(f"{k} ×{v}" for k, v in picks.items())
                reported = f"{group.cv_accuracy.mean():.3f} / {group.cv_accuracy_chosen.mean():.3f}"
            lines.append(f"| {n} | {method} | {group.overall.mean():.3f} ± {group.overall.std():.3f} | "
                         f"{group.kappa.mean():.3f} | {group.macro_f1.mean():.3f} | {chosen} | {reported} |")
        lines += ["", f"Paired differences of overall accuracy vs {BASELINE} (same seed = same training and test "
                  "patches); 95 % CI of the mean difference from the paired t distribution over the seeds:", "",
                  "| labels/class | method − statistics + LR | mean | 95 % CI | seeds won / tied / lost | paired t p |",
                  "|---|---|---|---|---|---|"]
        for n, group in part.groupby("labels_per_class"):
            table = group.pivot(index="seed", columns="method", values="overall")
            for method in group["method"].drop_duplicates():
                if method == BASELINE:
                    continue
                lines.append(paired_line(n, method, table[method], table[BASELINE]))
        others = [m for m in part["method"].drop_duplicates() if m.startswith("statistics (")]
        picks = next((m for m in part["method"].drop_duplicates() if m.startswith("picks by itself")), None)
        if others and picks:
            lines += ["", f"{picks} against the other band statistics (same seeds, same test patches):", "",
                      "| labels/class | comparison | mean | 95 % CI | seeds won / tied / lost | paired t p |",
                      "|---|---|---|---|---|---|"]
            for n, group in part.groupby("labels_per_class"):
                table = group.pivot(index="seed", columns="method", values="overall")
                lines += [paired_line(n, f"{picks} − {other}", table[picks], table[other]) for other in others]
        lines.append("")
    return "\n".join(lines)


def paired_line(n: int, label: str, row: pd.Series, baseline: pd.Series) -> str:
    """One markdown row: mean difference of ``row`` − ``baseline`` over the seeds, its 95 % t interval, the
    seeds won / tied / lost and the paired t-test p-value."""
    from scipy import stats

    diff = (row - baseline).to_numpy()
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    p = f"{stats.ttest_rel(row, baseline).pvalue:.3g}" if diff.std() > 0 else "— (equal)"
    return (f"| {n} | {label} | {diff.mean():+.3f} | [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}] "
            f"| {(diff > 0).sum()} / {(diff == 0).sum()} / {(diff < 0).sum()} | {p} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", type=_named_path, default=[], metavar="NAME=PATH",
                        help="an image_encoder ONNX file and its row name (repeatable; the first is the default "
                             "encoder, whose statistics make the baseline)")
    parser.add_argument("--seen", action="append", type=_named_source, default=[], metavar="NAME=SOURCE",
                        help="encoder NAME was pre-trained on the training split (split_seed 0) of the EuroSAT "
                             "source SOURCE (eurosat or eurosat_all)")
    parser.add_argument("--bands", default="", help="band mapping for the encoders and the forests, model band = "
                        "EuroSAT file band pairs, e.g. B04=4,B03=3,B02=2 (RGB); default all bands")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "few_label")
    parser.add_argument("--labels", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--no-check-plugin", dest="check_plugin", action="store_false",
                        help="skip the csp:train_classifier + csp:classify runs on the mosaic")
    parser.add_argument("--summarise", type=Path, help="only print the tables of an earlier results.json")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(json.loads(args.summarise.read_text())))
        return
    if not args.encoder:
        parser.error("--encoder NAME=PATH is required (unless --summarise)")
    unknown = {name for name, _ in args.seen} - {name for name, _ in args.encoder}
    if unknown:
        parser.error(f"--seen names no --encoder: {', '.join(sorted(unknown))}")
    from qgis_csp_plugin.core.band_mapping import parse_bands

    args.bands_text = args.bands.replace(" ", "")
    args.bands = parse_bands(args.bands_text) if args.bands_text else None
    if args.bands is not None and not isinstance(args.bands, dict):
        parser.error("--bands takes model band = EuroSAT file band pairs, e.g. B04=4,B03=3,B02=2")
    from scripts.headless_qgis import start_qgis, stop_qgis

    app = start_qgis()
    args.out.mkdir(parents=True, exist_ok=True)
    results, checks, facts = run(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "checks.json").write_text(json.dumps({"plugin_checks": checks, "encoders": facts}, indent=1))
    summary = summarise(results)
    (args.out / "summary.md").write_text(summary)
    print(summary)
    for check in checks:
        print(f"plugin check, {check['labels_per_class']} labels, seed {check['seed']}, {check['method']}: "
              f"{check['same_class']}/{check['test_patches']} test patches get the same class "
              f"(plugin chose {check['plugin_features']}, {check['seconds']} s)")
    stop_qgis(app)


def _named_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH to an existing .onnx file, got {text!r}")
    return name, Path(path)


def _named_source(text: str) -> tuple[str, str]:
    name, sep, source = text.partition("=")
    if not sep or source not in ("eurosat", "eurosat_all"):
        raise argparse.ArgumentTypeError(f"expected NAME=eurosat or NAME=eurosat_all, got {text!r}")
    return name, source


if __name__ == "__main__":
    main()
