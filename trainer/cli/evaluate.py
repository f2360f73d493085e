"""``python -m trainer evaluate [options]``: the CSP few-label table on EuroSAT (paper protocol).

For label ratios (default 5/10/20/100 %) and seeds, trains image-only, location-only (random init
and ``--csp_checkpoint``) and fused classifiers on the training split of
``split_records(eurosat, 0.2, 0.2, --split_seed)``, prints top-1/top-3 on its test split (mean ±
std over seeds) and writes ``<out>.csv`` (per seed) and ``<out>.md``. The image side is a linear
head on frozen ``--image_backbone`` features (random init unless ``--image_encoder_checkpoint``).
Example (CPU, a few minutes):
  python -m trainer evaluate --csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt \
      --out docs/results/csp_eurosat
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from trainer.data.csp_datamodule import COMMON_S2_BANDS
from trainer.errors import TrainerError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csp_checkpoint", help="CSP checkpoint (python -m trainer csp fit); omit: random init only")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.05, 0.1, 0.2, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--split_seed", type=int, default=0, help="must match the CSP data's split_seed")
    parser.add_argument("--bands", nargs="+", default=COMMON_S2_BANDS)
    parser.add_argument("--image_backbone", default="resnet10t_w32")
    parser.add_argument("--image_encoder_checkpoint")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per location classifier")
    parser.add_argument("--out", default="docs/results/csp_eurosat", help="output path without extension")
    args = parser.parse_args(argv)
    if any(not 0 < r <= 1 for r in args.ratios):
        raise TrainerError(f"label ratios {args.ratios} must be in (0, 1]")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    import pandas as pd

    from trainer.data.features import band_statistics, crop_pixels, frozen_features, image_records
    from trainer.data.splits import split_records
    from trainer.tasks.few_label import FewLabelSetup, evaluate_ratio, markdown_table, summarise, torch_quiet
    from trainer.tasks.location_classifier import csp_encoder_state

    torch_quiet()
    records = image_records("eurosat")
    parts = split_records(records, 0.2, 0.2, args.split_seed)
    train, test = parts["train"], parts["test"]
    class_names = list(records.drop_duplicates("label").sort_values("label")["class_name"])
    pixels = crop_pixels(records, args.bands, 64)
    mean, std = band_statistics(pixels[train.index.to_numpy()])
    features = frozen_features(pixels, mean, std, args.image_backbone, args.image_encoder_checkpoint).numpy()
    setup = FewLabelSetup(steps=args.steps)
    if args.csp_checkpoint:  # random init uses the same architecture as the CSP encoder
        setup.location_encoder, setup.encoder_params, _ = csp_encoder_state(args.csp_checkpoint)
    rows = []
    for ratio in args.ratios:
        for seed in args.seeds:
            rows += evaluate_ratio(train, test, dict(enumerate(features)), class_names, ratio, seed, setup,
                                   args.csp_checkpoint)
            print(f"ratio {ratio:g} seed {seed}: " + ", ".join(f"{r['model']} {r['top1']:.3f}" for r in rows[-5:]),
                  file=sys.stderr)
    summary = summarise(rows)
    table = markdown_table(summary)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    command = "python -m trainer evaluate " + shlex.join(argv)
    out.with_suffix(".md").write_text(
        f"# CSP few-label evaluation on EuroSAT (held-out test split, {len(test)} patches)\n\n"
        f"Produced by `{command}`; mean ± std over seeds {args.seeds}.\n\n{table}\n")
    print(table)
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")
    return 0
