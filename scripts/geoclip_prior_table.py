"""Location priors on real labelled points from three initialisations: random, our CSP, GeoCLIP.

Superseded by ``scripts/location_prior_table.py`` (docs/results/location_priors.md): kept to reproduce the
first table, docs/results/geoclip_priors.md (fixed 300 steps, no nearest-neighbour rows).

GeoNames cities >= 15,000 inhabitants (``data/points/cities15000.csv.gz``), labels ``country_code``,
``continent_name`` and ``timezone`` (classes with fewer than ``--min_per_class`` cities dropped). One
seeded stratified split (80 % train / 20 % test); for every label ratio and seed, a stratified subset of
the training split (``round(n_c · ratio)``, at least one per class) trains a location classifier with
:func:`trainer.evaluation.few_label.location_probabilities` (the ``prior`` task, fixed steps, batch and
learning rate: nothing is chosen on the test split) from

* random init — sphereC+ → MLP, the CSP config's architecture;
* CSP init — ``--csp_checkpoint`` (``python -m trainer csp fit --config trainer/configs/csp_eurosat.yaml``);
* GeoCLIP frozen — a linear probe on the frozen GeoCLIP embeddings: the project's frozen-feature head
  (:func:`trainer.evaluation.few_label.image_probabilities`, standardised multinomial logistic regression,
  as for frozen image features), the embeddings computed once per city. (``prior
  --model.pretrained_encoder geoclip --model.freeze_encoder true`` trains the same kind of head by SGD,
  re-encoding every batch: ~20× the cost on this 2-core machine.)

Top-1/top-3 on the test split, mean and 95 % CI (t-distribution) over seeds; CSV + Markdown.

    nice -n 10 .venv/bin/python scripts/geoclip_prior_table.py --csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.data.catalog import cities_records  # noqa: E402
from trainer.data.geotagged import encode_labels  # noqa: E402
from trainer.data.splits import label_subset, split_records  # noqa: E402
from trainer.evaluation.few_label import (  # noqa: E402
    FewLabelSetup,
    image_probabilities,
    location_probabilities,
    topk_accuracy,
    torch_quiet,
)
from trainer.pretrained.geoclip_import import embed  # noqa: E402
from trainer.pretrained.geoclip_release import encoder_from_state, find_release, load_state  # noqa: E402

LABELS = {"country": "country_code", "continent": "continent_name", "timezone": "timezone"}
CSP_ARCHITECTURE = {"frequency_num": 32, "min_radius": 0.1, "max_radius": 360.0, "hidden_dim": 256,
                    "num_hidden_layers": 1, "out_dim": 128, "dropout": 0.5, "activation": "leaky_relu"}


def labelled(cities: pd.DataFrame, column: str, min_per_class: int) -> pd.DataFrame:
    """``lat, lon, label, class_name`` of the cities whose ``column`` class has enough cities (index kept)."""
    frame = cities.dropna(subset=[column])
    counts = frame[column].value_counts()
    frame = frame[frame[column].isin(counts[counts >= min_per_class].index)]
    return encode_labels(frame, column)[["lat", "lon", "label", "class_name"]]


def trained_priors(csp_checkpoint: str | None) -> dict[str, str | None]:
    """Row name → ``csp_checkpoint`` of :func:`location_probabilities` (the prior task)."""
    return {"random init": None, **({"CSP init": csp_checkpoint} if csp_checkpoint else {})}


def ci95(values: pd.Series) -> float:
    """Half-width of the 95 % t confidence interval of the mean (0 for one value)."""
    n = len(values)
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0


def markdown(frame: pd.DataFrame, command: str, setup: FewLabelSetup, minutes: float) -> str:
    grouped = frame.groupby(["task", "ratio", "init"], sort=False)
    table = grouped.agg(n_train=("n_train", "mean"), n_test=("n_test", "first"), classes=("classes", "first"),
                        seeds=("seed", "count"), top1=("top1", "mean"), top1_ci=("top1", ci95),
                        top3=("top3", "mean"), top3_ci=("top3", ci95)).reset_index()
    lines = ["# Location priors from GeoCLIP vs random and CSP init (GeoNames cities)", "",
             "```bash", command, "```", "",
             f"Fixed settings (nothing chosen on the test split): {setup.steps} steps, batch {setup.batch_size}, "
             f"Adam lr {setup.lr}, softmax loss; 80/20 stratified split (seed 0); "
             f"{minutes:.0f} min on 2 shared CPU cores.",
             "", "| task | labels | init | n train | classes | top-1 (95 % CI) | top-3 (95 % CI) | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.task} | {row.ratio:.0%} | {row.init} | {row.n_train:,.0f} | {row.classes} | "
                     f"{100 * row.top1:.1f} ± {100 * row.top1_ci:.1f} | {100 * row.top3:.1f} ± {100 * row.top3_ci:.1f} "
                     f"| {row.seeds} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csp_checkpoint", help="CSP checkpoint (python -m trainer csp fit)")
    parser.add_argument("--tasks", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument("--ratios", nargs="+", type=float, default=[0.01, 0.05, 1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--min_per_class", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("docs/results/geoclip_priors"))
    args = parser.parse_args()
    torch_quiet()
    setup = FewLabelSetup(location_encoder="sphereC+", encoder_params=CSP_ARCHITECTURE, steps=args.steps,
                          batch_size=args.batch_size, lr=1e-3)
    started, rows = time.perf_counter(), []
    cities = cities_records()
    geoclip = embed(encoder_from_state(load_state(find_release())), cities[["lat", "lon"]].to_numpy(np.float32))
    print(f"GeoCLIP embeddings of {len(cities):,} cities ({(time.perf_counter() - started) / 60:.1f} min)", flush=True)
    for task in args.tasks:
        records = labelled(cities, LABELS[task], args.min_per_class)
        class_names = [str(n) for n in records.drop_duplicates("label").sort_values("label")["class_name"]]
        parts = split_records(records, val_fraction=0.0, test_fraction=0.2, seed=0)
        test, labels = parts["test"], parts["test"]["label"].to_numpy()
        for ratio in args.ratios:
            for seed in args.seeds:
                subset = label_subset(parts["train"], ratio, seed)
                results = {init: location_probabilities(subset, test, class_names, setup, checkpoint, seed)
                           for init, checkpoint in trained_priors(args.csp_checkpoint).items()}
                results["GeoCLIP frozen (linear probe)"] = image_probabilities(
                    geoclip[subset.index], subset["label"].to_numpy(), geoclip[test.index], len(class_names), seed)
                for init, p in results.items():
                    rows.append({"task": task, "ratio": ratio, "seed": seed, "init": init, "n_train": len(subset),
                                 "n_test": len(labels), "classes": len(class_names),
                                 "top1": topk_accuracy(p, labels, 1), "top3": topk_accuracy(p, labels, 3)})
                    print(f"{task} {ratio:g} seed {seed} {init}: top-1 {rows[-1]['top1']:.3f} "
                          f"({(time.perf_counter() - started) / 60:.1f} min)", flush=True)
    frame = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    command = "nice -n 10 .venv/bin/python scripts/geoclip_prior_table.py " + shlex.join(sys.argv[1:])
    args.out.with_suffix(".md").write_text(markdown(frame, command, setup, (time.perf_counter() - started) / 60))
    print(f"wrote {args.out.with_suffix('.md')} and .csv")


if __name__ == "__main__":
    main()
