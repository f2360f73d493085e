"""Tables of the few-label evaluation (rows of :func:`trainer.evaluation.few_label.evaluate_ratio`).

With k-fold cross-validation every record is tested once: per seed, the folds' accuracies are
pooled (weighted by their number of records) into one accuracy over all records; tables show the
mean ± standard deviation of these pooled accuracies over seeds. Paired differences compare two
models on the same seeds (same label subsets, same test records), which is far less noisy than
comparing their two means.
"""

from __future__ import annotations

import pandas as pd

METRICS = ("top1", "top3")


def pooled_per_seed(rows: list[dict], split: str = "test") -> pd.DataFrame:
    """One row per (ratio, model, seed) of ``split``: accuracies pooled over folds, weighted by ``n_eval``."""
    frame = pd.DataFrame(rows)
    frame = frame[frame["split"] == split]
    weighted = frame.assign(**{m: frame[m] * frame["n_eval"] for m in METRICS})
    grouped = weighted.groupby(["ratio", "model", "seed"], sort=False)
    pooled = grouped.agg(n_train=("n_train", "mean"), n_eval=("n_eval", "sum"), top1=("top1", "sum"),
                         top3=("top3", "sum"), prior_exponent=("prior_exponent", "mean")).reset_index()
    return pooled.assign(**{m: pooled[m] / pooled["n_eval"] for m in METRICS})


def summarise(rows: list[dict], split: str = "test") -> pd.DataFrame:
    """Mean and standard deviation over seeds per (ratio, model) of the pooled accuracies (and the mean
    chosen prior exponent α of tempered fusions, NaN for the other models)."""
    grouped = pooled_per_seed(rows, split).groupby(["ratio", "model"], sort=False)
    table = grouped.agg(n_train=("n_train", "mean"), n_eval=("n_eval", "mean"), top1=("top1", "mean"),
                        top1_std=("top1", "std"), top3=("top3", "mean"), top3_std=("top3", "std"),
                        seeds=("seed", "count"), prior_exponent=("prior_exponent", "mean")).reset_index()
    stds = ["top1_std", "top3_std"]
    return table.assign(**{c: table[c].fillna(0.0) for c in stds})


def comparisons(models: list[str]) -> list[tuple[str, str]]:
    """(better?, baseline) pairs: every fused model vs image only, every CSP model vs its random-init twin."""
    pairs = [(m, "image only") for m in models if m.startswith("fused (") and "image only" in models]
    return pairs + [(m, m.replace("(CSP,", "(random init,")) for m in models
                    if "(CSP," in m and m.replace("(CSP,", "(random init,") in models]


def paired_differences(rows: list[dict], split: str = "test") -> pd.DataFrame:
    """Per ratio and comparison ``a − b``: mean ± std over seeds of the pooled accuracy differences, and on
    how many seeds ``a`` is better / worse."""
    pooled = pooled_per_seed(rows, split)
    out = []
    for ratio, part in pooled.groupby("ratio", sort=False):
        wide = {m: part.pivot(index="seed", columns="model", values=m) for m in METRICS}
        for a, b in comparisons(list(dict.fromkeys(part["model"]))):
            diff = {m: wide[m][a] - wide[m][b] for m in METRICS}
            out.append({"ratio": ratio, "comparison": f"{a} − {b}", "top1": diff["top1"].mean(),
                        "top1_std": diff["top1"].std(), "top3": diff["top3"].mean(), "top3_std": diff["top3"].std(),
                        "better": int((diff["top1"] > 0).sum()), "worse": int((diff["top1"] < 0).sum()),
                        "seeds": len(diff["top1"])})
    return pd.DataFrame(out).fillna(0.0)


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a markdown table (percentages, mean ± std over seeds)."""
    lines = ["| label ratio | train labels | model | top-1 % | top-3 % |", "|---|---|---|---|---|"]
    for row in summary.itertuples():
        model = row.model if pd.isna(row.prior_exponent) else f"{row.model}: mean α {row.prior_exponent:.2f}"
        top1 = f"{row.top1 * 100:.1f} ± {row.top1_std * 100:.1f}"
        top3 = f"{row.top3 * 100:.1f} ± {row.top3_std * 100:.1f}"
        lines.append(f"| {row.ratio * 100:g} % | {row.n_train:g} | {model} | {top1} | {top3} |")
    return "\n".join(lines)


def markdown_differences(differences: pd.DataFrame) -> str:
    """Paired differences as a markdown table (percentage points, mean ± std over seeds)."""
    lines = ["| label ratio | comparison | Δ top-1 (points) | Δ top-3 (points) | seeds better / worse (top-1) |",
             "|---|---|---|---|---|"]
    for row in differences.itertuples():
        lines.append(f"| {row.ratio * 100:g} % | {row.comparison} | {row.top1 * 100:+.1f} ± {row.top1_std * 100:.1f} | "
                     f"{row.top3 * 100:+.1f} ± {row.top3_std * 100:.1f} | {row.better} / {row.worse} of {row.seeds} |")
    return "\n".join(lines)
