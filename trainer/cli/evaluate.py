"""``python -m trainer evaluate [options]``: the CSP few-label table on EuroSAT (paper protocol).

For label ratios (default 5/10/20/100 %) and seeds, trains image-only, location-only (random init
and CSP) and fused classifiers on a training split, prints top-1/top-3 on the held-out test split
(mean ± std over seeds, and paired differences: fused − image only, CSP − random init) and writes
``<out>.csv`` (every fold, seed, split and model, validation split included) and ``<out>.md``.
The location priors are trained with each loss of ``--prior_losses`` (``softmax`` cross-entropy,
``presence_only``: CSP's sigmoid presence-only loss); "α on val" rows fuse P(y | I) · P(y | x)^α with
α among ``--prior_exponents`` chosen by the fused log-likelihood on the validation split (α = 0 is
image-only; pass no value to skip). The image side is a linear head on frozen ``--image_backbone``
features (random init unless ``--image_encoder_checkpoint``).

Splits: one split ``split_records(eurosat, 0.2, 0.2, --split_seed)`` (120/40/40 patches), or with
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
    parser.add_argument("--split_seed", type=int, default=0, help="must match the CSP data's split_seed")
    parser.add_argument("--bands", nargs="+", default=COMMON_S2_BANDS)
    parser.add_argument("--image_backbone", default="resnet10t_w32")
    parser.add_argument("--image_encoder_checkpoint")
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


def run_folds(args: argparse.Namespace) -> list[dict]:
    """Rows of :func:`trainer.evaluation.few_label.evaluate_ratio` (plus ``fold``) for every split/fold, ratio, seed."""
    from trainer.cli.csp import pretrain_for_evaluation
    from trainer.data.features import band_statistics, crop_pixels, frozen_features, image_records
    from trainer.data.splits import evaluation_split
    from trainer.evaluation.few_label import FewLabelSetup, evaluate_ratio
    from trainer.tasks.location_classifier import csp_encoder_state

    records = image_records("eurosat")
    class_names = list(records.drop_duplicates("label").sort_values("label")["class_name"])
    pixels = crop_pixels(records, args.bands, 64)
    rows = []
    for fold in range(max(args.folds, 1)):
        parts = evaluation_split(records, 0.2, 0.2, args.split_seed, args.folds, fold)
        train = parts["train"]
        mean, std = band_statistics(pixels[train.index.to_numpy()])
        features = frozen_features(pixels, mean, std, args.image_backbone, args.image_encoder_checkpoint).numpy()
        checkpoint = args.csp_checkpoint
        if args.csp_config:
            checkpoint = str(pretrain_for_evaluation(args.csp_config, shlex.split(args.csp_args),
                                                     Path(args.runs_dir) / f"fold{fold}", args.split_seed,
                                                     args.folds, fold))
        setup = FewLabelSetup(steps=args.steps, losses=tuple(args.prior_losses),
                              prior_exponents=tuple(args.prior_exponents))
        if checkpoint:  # random init uses the same architecture as the CSP encoder
            setup.location_encoder, setup.encoder_params, _ = csp_encoder_state(checkpoint)
        evaluated = {"val": parts["val"], "test": parts["test"]}
        for ratio in args.ratios:
            for seed in args.seeds:
                new = evaluate_ratio(train, evaluated, dict(enumerate(features)), class_names, ratio, seed, setup,
                                     checkpoint)
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
        f"# CSP few-label evaluation on EuroSAT ({protocol})\n\n"
        f"Produced by `{command}`; mean ± std over seeds {args.seeds} of the accuracy over all test patches.\n\n"
        f"{table}\n\n## Paired differences (same seeds, same test patches)\n\n{differences}\n")
    print(f"{table}\n\n{differences}")
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")
    return 0
