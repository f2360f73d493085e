"""``python -m trainer crossval --classifier_config C.yaml [C2.yaml ...] --out OUT [--classifier_config ...
--out OUT2] [--moco_config M.yaml] [options]``: k-fold cross-validated accuracy of image-classifier
recipes (each ``--classifier_config`` one recipe of one or more config files, with its own ``--out``)
with 95 % confidence intervals;
``python -m trainer crossval --heldout_model M.onnx``: the same table for an exported model on the
held-out test split it was trained around (``split_records(records, 0.2, 0.2, --split_seed)``).

For each fold k of a stratified ``--folds``-fold partition of the labelled ``--source`` patches: one MoCo
pre-training on that fold's training split (``--moco_config``; never on its validation or test patches;
unlabelled sources added with ``--moco_args`` join its training split), shared by every recipe; per recipe,
fine-tuning (``--data.folds K --data.fold k``; the last epoch is kept, nothing
is selected on the test fold), ONNX export, and onnxruntime predictions on the fold's test patches, each
run as Classify runs a layer (the model's radiometry applied), as they are and degraded to coarser
pixels (``--degrade 30m=3``: area-averaged to 3x larger pixels, read back at the model's resolution by
nearest neighbour). Writes ``<out>.csv`` (one row per patch) and
``<out>.md`` (accuracy and per-class recall pooled over folds, Wilson 95 % intervals).
Example (CPU, ~5 min per fold):
  python -m trainer crossval --moco_config trainer/configs/moco_eurosat_small.yaml --source eurosat_all \\
      --classifier_config trainer/configs/classifier_eurosat_s2.yaml --out docs/results/default_s2_cv \\
      --classifier_config trainer/configs/classifier_eurosat_rgb.yaml trainer/configs/classifier_rgb_sensor.yaml \\
      --out docs/results/default_rgb_cv --folds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qgis_csp_plugin.contract.schema import Kind
from trainer.errors import TrainerError

if TYPE_CHECKING:
    import pandas as pd

    from qgis_csp_plugin.contract.schema import ModelMetadata


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer crossval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--classifier_config", action="append", nargs="+",
                      help="config file(s) of `python -m trainer moco finetune`: one recipe (repeatable)")
    what.add_argument("--heldout_model", help="exported image classifier: evaluated on the held-out test split")
    parser.add_argument("--moco_config", help="config of `python -m trainer moco fit` (pre-trained per fold)")
    parser.add_argument("--source", default="eurosat_all", help="labelled image source")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--split_seed", type=int, default=0)
    parser.add_argument("--degrade", nargs="*", default=["30m=3"], help="NAME=FACTOR coarser-pixel conditions")
    parser.add_argument("--moco_args", default="", help="extra overrides for the MoCo runs")
    parser.add_argument("--classifier_args", default="", help="extra overrides for the classifier runs")
    parser.add_argument("--runs_dir", default="runs/crossval", help="checkpoints and ONNX files per fold")
    parser.add_argument("--out", action="append", required=True,
                        help="output path without extension (.csv and .md), one per recipe")
    args = parser.parse_args(argv)
    if len(args.out) != len(args.classifier_config or [None]):
        raise TrainerError(f"{len(args.out)} --out for {len(args.classifier_config or [None])} recipe(s): "
                           "give one --out per --classifier_config")
    if len({Path(out).name for out in args.out}) != len(args.out):
        raise TrainerError(f"--out {args.out}: the recipes need different file names (their fold runs are named so)")
    if args.classifier_config and args.folds < 2:
        raise TrainerError(f"--folds {args.folds}: cross-validation needs at least 2 folds")
    try:
        args.degrade = {name: float(factor) for name, factor in (item.split("=") for item in args.degrade)}
    except ValueError as exc:
        raise TrainerError(f"--degrade {args.degrade}: use NAME=FACTOR, e.g. 30m=3") from exc
    if any(f < 1 for f in args.degrade.values()):
        raise TrainerError(f"--degrade factors {args.degrade} must be >= 1")
    return args


def run_fold(args: argparse.Namespace, fold: int) -> list[Path]:
    """Train (one MoCo, then each recipe's classifier) on fold ``fold``'s training split and export; the
    ONNX path per recipe (``<runs_dir>/fold<k>/<out name>.onnx``). A fold finished by an earlier run of
    the same settings (``recipe.json``) is reused, so an interrupted cross-validation resumes."""
    from trainer.cli.moco import classifier_for_evaluation, pretrain_for_evaluation
    from trainer.export.onnx_writer import export_onnx
    from trainer.tasks.base import load_task

    folder = Path(args.runs_dir) / f"fold{fold}"
    paths = [folder / f"{Path(out).name}.onnx" for out in args.out]
    recipe = folder / "recipe.json"  # written once the fold is complete: a re-run with the same recipe reuses it
    settings = json.dumps({key: value for key, value in sorted(vars(args).items()) if key not in ("out", "degrade")})
    if recipe.is_file() and recipe.read_text() == settings and all(path.is_file() for path in paths):
        print(f"fold {fold}: reusing the finished fold in {folder}", file=sys.stderr)
        return paths
    recipe.unlink(missing_ok=True)
    split = {"source": args.source, "folds": args.folds, "fold": fold, "split_seed": args.split_seed}
    moco = (pretrain_for_evaluation(args.moco_config, shlex.split(args.moco_args), folder / "moco", **split)
            if args.moco_config else None)
    for configs, path in zip(args.classifier_config, paths, strict=True):
        final = classifier_for_evaluation(configs, shlex.split(args.classifier_args), folder / path.stem, **split,
                                          moco_checkpoint=moco)
        export_onnx(load_task(final).export_spec(Kind.IMAGE_CLASSIFIER), path)
    recipe.write_text(settings)
    return paths


def main(argv: list[str]) -> int:
    args = parse(argv)
    import pandas as pd

    from qgis_csp_plugin.contract.onnx_model import OnnxModel
    from trainer.data.registry import image_records
    from trainer.data.splits import fold_split, split_records
    from trainer.evaluation.crossval import fold_predictions

    records = image_records(args.source)
    records = records[records["label"] >= 0].reset_index(drop=True)
    if args.heldout_model:
        model = OnnxModel.load(args.heldout_model)
        frame = fold_predictions(model, split_records(records, 0.2, 0.2, args.split_seed)["test"], args.degrade)
        protocol = (f"the held-out test split ({len(frame)} of the {len(records)} labelled patches of "
                    f"`{args.source}`, `split_records` 0.2/0.2, split_seed {args.split_seed}; never used in training "
                    "or model choice)")
        write_report(args, argv, records, frame, model.metadata, protocol, args.out[0])
        return 0
    predictions: list[list[pd.DataFrame]] = [[] for _ in args.out]
    metadata = [None] * len(args.out)
    for fold in range(args.folds):
        test = fold_split(records, args.folds, fold, 0.2, args.split_seed)["test"]
        for recipe, path in enumerate(run_fold(args, fold)):
            model = OnnxModel.load(path)
            rows = fold_predictions(model, test, args.degrade).assign(fold=fold)
            predictions[recipe].append(rows)
            metadata[recipe] = model.metadata
            print(f"fold {fold} {Path(args.out[recipe]).name}: top-1 " + ", ".join(
                f"{c} {(rows[c] == rows['label']).mean():.3f}" for c in ["native", *args.degrade]), file=sys.stderr)
    for recipe, out in enumerate(args.out):
        frame = pd.concat(predictions[recipe], ignore_index=True)
        protocol = (f"{args.folds}-fold stratified cross-validation over the {len(frame)} labelled patches of "
                    f"`{args.source}` (every patch tested once, by the fold model that never saw it; "
                    f"recipe: {', '.join(f'`{c}`' for c in args.classifier_config[recipe])})")
        write_report(args, argv, records, frame, metadata[recipe], protocol, out)
    return 0


def write_report(args: argparse.Namespace, argv: list[str], records: pd.DataFrame, frame: pd.DataFrame,
                 meta: ModelMetadata, protocol: str, out: str) -> None:
    """``<out>.csv`` (one row per patch) and ``<out>.md`` (pooled accuracy and per-class recall)."""
    from trainer.data.catalog import REPO_ROOT
    from trainer.evaluation.crossval import accuracy_table, markdown_accuracy

    conditions = ["native", *args.degrade]
    class_names = [str(n) for n in records.drop_duplicates("label").sort_values("label")["class_name"]]
    table = markdown_accuracy(accuracy_table(frame, conditions, class_names), conditions)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame["image_path"] = [os.path.relpath(path, REPO_ROOT) for path in frame["image_path"]]
    frame.to_csv(out.with_suffix(".csv"), index=False)
    command = "python -m trainer crossval " + shlex.join(argv)
    degraded = ", ".join(f"`{n}`: {f:g}x larger pixels" for n, f in args.degrade.items())
    out.with_suffix(".md").write_text(
        f"# Accuracy with 95 % intervals: {meta.name}\n\n"
        f"Produced by `{command}`.\n\nTested on {protocol}, run as ONNX by onnxruntime as Classify runs it "
        f"(each patch a layer, the model's `{meta.normalization.radiometry}` radiometry applied); conditions: `native` "
        f"(the patches as they are), {degraded} (area-averaged, then read back at the model's resolution by "
        "nearest neighbour, as Classify reads a coarser layer). Per class: recall; `all`: accuracy. Brackets: "
        "95 % Wilson score intervals over the pooled patches.\n\n"
        f"{table}\n")
    print(table)
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")
