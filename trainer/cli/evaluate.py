"""``python -m trainer evaluate [options]``: the CSP few-label table on EuroSAT (paper protocol) or
any labelled ``--source`` of the registry (a table, ``inat:``, ``fmow:``, ``shards:`` with its split…).

For label ratios (default 5/10/20/100 %) and seeds, trains image-only, location-only (random init
and CSP) and fused classifiers on a training split, next to the location-only baselines 1-NN and
distance-weighted k-NN (haversine; k chosen on the validation split), prints top-1/top-3 on the held-out test split
(mean ± std over seeds, and paired differences: fused − image only, CSP − random init) and writes
``<out>.csv`` (every fold, seed, split and model, validation split included) and ``<out>.md``.
The location priors are trained with each loss of ``--prior_losses`` (``softmax`` cross-entropy,
``presence_only``: CSP's sigmoid presence-only loss); "α on val" rows fuse P(y | I) · P(y | x)^α with
α among ``--prior_exponents`` chosen by the fused log-likelihood on the validation split (α = 0 is
image-only; pass no value to skip). The image side is a linear head on frozen ``--image_backbone``
features: the CSP data's own (:class:`trainer.tasks.csp_data.CspDataModule` with the data settings
saved in the CSP checkpoint; its bands, backbone, normalisation; a CSP image encoder trained end to
end is taken from the checkpoint), memory-mapped from the feature cache
that ``csp fit`` filled (``--feature_cache_dir``; nothing is recomputed when the key matches), or, without
CSP, a random-init ``--image_backbone`` unless ``--image_encoder_checkpoint``; ``--bands``,
``--image_backbone``, ``--image_encoder_checkpoint`` override the CSP data's (other features, other key).

Splits: one split ``split_records(<--source>, 0.2, 0.2, --split_seed)`` (EuroSAT: 120/40/40 patches;
the fractions and seed are the CSP data's, which held that test split out), or with
``--folds K`` a stratified K-fold cross-validation: fold k is the test split, val and train come
from the other folds, so every patch is tested once and accuracies are pooled over all patches.
CSP: ``--csp_checkpoint`` (single split only; it must have left that test split out), or
``--csp_config`` to pre-train one CSP model per split/fold without its test patches
(``--csp_args`` adds overrides; checkpoints under ``--runs_dir``).
Examples (CPU):
  python -m trainer evaluate --csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt \\
      --out docs/results/csp_eurosat
  python -m trainer evaluate --folds 5 --csp_config trainer/configs/csp_eurosat.yaml \\
      --out docs/results/csp_eurosat_cv
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from trainer.data.csp_datamodule import COMMON_S2_BANDS
from trainer.errors import TrainerError

LOSSES = ("softmax", "presence_only")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    csp = parser.add_mutually_exclusive_group()
    csp.add_argument("--csp_checkpoint", help="CSP checkpoint (python -m trainer csp fit), single split only")
    csp.add_argument("--csp_config", help="CSP config: pre-train one CSP model per split/fold without its test part")
    parser.add_argument("--csp_args", default="",
                        help="extra overrides for --csp_config, e.g. '--trainer.max_epochs 50'")
    parser.add_argument("--folds", type=int, default=0, help="K-fold cross-validation (0: one split)")
    parser.add_argument("--prior_losses", nargs="+", choices=LOSSES, default=list(LOSSES))
    parser.add_argument("--prior_exponents", type=float, nargs="*", default=[0.0, 0.25, 0.5, 1.0],
                        help="candidates for α in P(y|I)·P(y|x)^α, chosen on the validation split")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.05, 0.1, 0.2, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--source", default="eurosat", help="labelled image source under evaluation (any source "
                        "of the registry with labels; it joins the CSP data's sources when not among them)")
    parser.add_argument("--split_seed", type=int, help="default: the CSP data's split_seed (else 0); must match it")
    parser.add_argument("--bands", nargs="+",
                        help=f"image-side bands (default: the CSP data's, else {' '.join(COMMON_S2_BANDS)})")
    parser.add_argument("--table_bands", nargs="+", help="band order of a table source's files (default: the CSP "
                        "data's, else the EuroSAT order)")
    parser.add_argument("--tile_size", type=int, help="image crop / shard tile size (default: the CSP data's, else 64)")
    parser.add_argument("--image_backbone", help="image-side backbone (default: the CSP data's, else resnet10t_w32)")
    parser.add_argument("--image_encoder_checkpoint", help="image-side weights (default: the CSP data's)")
    parser.add_argument("--feature_cache_dir", help="frozen-feature cache (default: the CSP data's, e.g. "
                        "runs/feature_cache of csp_eurosat.yaml)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per location classifier")
    parser.add_argument("--runs_dir", default="runs/evaluate", help="where --csp_config checkpoints go")
    parser.add_argument("--out", default="docs/results/csp_eurosat", help="output path without extension")
    args = parser.parse_args(argv)
    if any(not 0 < r <= 1 for r in args.ratios):
        raise TrainerError(f"label ratios {args.ratios} must be in (0, 1]")
    if args.folds == 1 or args.folds < 0:
        raise TrainerError(f"--folds {args.folds}: use 0 (one split) or at least 2 folds")
    if args.folds and args.csp_checkpoint:
        raise TrainerError("--folds needs --csp_config (one CSP model per fold, each without its test fold); "
                           "a single --csp_checkpoint has seen the other folds' test patches")
    if any(a < 0 for a in args.prior_exponents):
        raise TrainerError(f"prior exponents {args.prior_exponents} must be >= 0")
    if args.csp_args and not args.csp_config:
        raise TrainerError("--csp_args only applies with --csp_config")
    return args


#: Evaluate options that override the CSP data's settings.
DATA_OVERRIDES = ("bands", "table_bands", "tile_size", "image_backbone", "image_encoder_checkpoint",
                  "feature_cache_dir", "split_seed")


def csp_data_settings(checkpoint: str | Path | None) -> dict:
    """The CspDataModule settings saved in a CSP checkpoint (``{}`` without one)."""
    if checkpoint is None:
        return {}
    import inspect

    from trainer.checkpoints import read_checkpoint
    from trainer.tasks.csp_data import CspDataModule

    saved = read_checkpoint(Path(checkpoint), "CSP checkpoint").get("datamodule_hyper_parameters") or {}
    return {k: v for k, v in saved.items() if k in inspect.signature(CspDataModule).parameters}


def evaluation_data(args: argparse.Namespace, checkpoint: str | None, fold: int):
    """The CSP data (the settings saved in ``checkpoint``, overridden by the evaluate options) whose
    frozen features are the image side of fold ``fold``; a CSP model trained end to end brings its
    image encoder."""
    from trainer.tasks.csp_data import CspDataModule

    settings = csp_data_settings(checkpoint)
    if settings and (settings.get("eval_folds", 0), settings.get("eval_fold", 0)) != (args.folds, fold):
        raise TrainerError(f"the CSP checkpoint held out fold {settings.get('eval_fold', 0)} of "
                           f"{settings.get('eval_folds', 0)} folds, not fold {fold} of {args.folds}")
    if settings and args.split_seed not in (None, settings.get("split_seed", 0)):
        raise TrainerError(f"--split_seed {args.split_seed}: the CSP model held out the test split of split_seed "
                           f"{settings.get('split_seed', 0)}")
    options = {**settings, "sources": list(settings.get("sources", [])), "eval_folds": args.folds,
               "eval_fold": fold, "image_encoder_trainable": False}
    if settings.get("image_encoder_trainable"):  # trained end to end: the image side uses CSP's own encoder
        options["image_encoder_checkpoint"] = str(checkpoint)
    options.update({name: getattr(args, name) for name in DATA_OVERRIDES if getattr(args, name) is not None})
    if args.source not in options["sources"]:
        options["sources"].append(args.source)
    return CspDataModule(**options)


def run_folds(args: argparse.Namespace) -> list[dict]:
    """Rows of :func:`trainer.evaluation.few_label.evaluate_ratio` (plus ``fold``) for every split/fold, ratio, seed."""
    from trainer.cli.csp import pretrain_for_evaluation
    from trainer.data.splits import evaluation_split, stored_split
    from trainer.evaluation.few_label import FewLabelSetup, evaluate_ratio
    from trainer.tasks.location_classifier import csp_encoder_state

    rows = []
    for fold in range(max(args.folds, 1)):
        checkpoint = args.csp_checkpoint
        if args.csp_config:
            checkpoint = str(pretrain_for_evaluation(args.csp_config, shlex.split(args.csp_args),
                                                     Path(args.runs_dir) / f"fold{fold}", args.split_seed or 0,
                                                     args.folds, fold))
        data = evaluation_data(args, checkpoint, fold)
        records, features = data.source_features(args.source)
        print(f"fold {fold}: image features of {len(records)} {args.source} records "
              f"{'from the feature cache' if data.cache_hit else 'computed'}", file=sys.stderr)
        labelled = records["label"].to_numpy() >= 0
        records, features = records[labelled], features[labelled]
        if not len(records):
            raise TrainerError(f"{args.source} has no labelled records to evaluate on")
        hp = data.hparams
        parts = stored_split(records, args.folds) if "split" in records else evaluation_split(
            records, hp.eval_val_fraction, hp.eval_test_fraction, hp.split_seed, args.folds, fold)
        if not parts["test"].index.sort_values().equals(records.index[records["heldout"]]):
            raise TrainerError(f"the records of {args.source} changed (skipped rows?): the test split is not the "
                               "one the CSP data held out")
        class_names = list(records.drop_duplicates("label").sort_values("label")["class_name"])
        setup = FewLabelSetup(steps=args.steps, losses=tuple(args.prior_losses),
                              prior_exponents=tuple(args.prior_exponents))
        if checkpoint:  # random init uses the same architecture as the CSP encoder
            setup.location_encoder, setup.encoder_params, _ = csp_encoder_state(checkpoint)
        evaluated = {"val": parts["val"], "test": parts["test"]}
        by_row = dict(zip(records.index, features, strict=True))
        for ratio in args.ratios:
            for seed in args.seeds:
                new = evaluate_ratio(parts["train"], evaluated, by_row, class_names, ratio, seed, setup, checkpoint)
                rows += [{"fold": fold, **row} for row in new]
                print(f"fold {fold} ratio {ratio:g} seed {seed} (test top-1): "
                      + ", ".join(f"{r['model']} {r['top1']:.3f}" for r in new if r["split"] == "test"),
                      file=sys.stderr)
    return rows


def main(argv: list[str]) -> int:
    args = parse(argv)
    import pandas as pd

    from trainer.evaluation.few_label import torch_quiet
    from trainer.evaluation.report import (
        markdown_differences,
        markdown_table,
        paired_differences,
        summarise,
    )

    torch_quiet()
    rows = run_folds(args)
    table = markdown_table(summarise(rows))
    differences = markdown_differences(paired_differences(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    command = "python -m trainer evaluate " + shlex.join(argv)
    n_test = sum(r["n_eval"] for r in rows if r["split"] == "test" and r["seed"] == args.seeds[0]
                 and r["ratio"] == args.ratios[0] and r["model"] == "image only")
    protocol = (f"{args.folds}-fold cross-validation, every patch tested once: {n_test} test patches"
                if args.folds else f"held-out test split, {n_test} patches")
    out.with_suffix(".md").write_text(
        f"# CSP few-label evaluation on {'EuroSAT' if args.source == 'eurosat' else args.source} ({protocol})\n\n"
        f"Produced by `{command}`; mean ± std over seeds {args.seeds} of the accuracy over all test patches.\n\n"
        f"{table}\n\n## Paired differences (same seeds, same test patches)\n\n{differences}\n")
    print(f"{table}\n\n{differences}")
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")
    return 0
