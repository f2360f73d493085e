"""Few-label evaluation of CSP (paper protocol): image-only, location-only and fused classifiers.

For every label ratio and seed, a stratified subset of the training split trains (1) a linear head
on frozen image features, P(y | I); (2) a location classifier, P(y | x), from random init and from
a CSP checkpoint. Fusion is P(y | I, x) ∝ P(y | I) · P(y | x)
(:func:`qgis_csp_plugin.core.probabilities.fuse`). Metrics are top-1/top-3 on the held-out test
split, which is never used for any choice (fixed hyper-parameters, fixed step counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader

from qgis_csp_plugin.core.probabilities import fuse
from trainer.data.points import point_tensors
from trainer.data.splits import label_subset
from trainer.tasks.location_classifier import LocationClassifierTask


@dataclass
class FewLabelSetup:
    """Fixed training settings of the location classifiers (never chosen on the test split)."""

    location_encoder: str = "sphereC+"
    encoder_params: dict | None = None
    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3


def topk_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` most probable classes."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def image_probabilities(features: np.ndarray, labels: np.ndarray, test_features: np.ndarray,
                        n_classes: int, seed: int) -> np.ndarray:
    """P(y | I) of a linear head (standardised multinomial logistic regression) on frozen features."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(features, labels)
    probabilities = np.zeros((len(test_features), n_classes))
    probabilities[:, model.classes_] = model.predict_proba(test_features)
    return probabilities


def location_probabilities(train: pd.DataFrame, test: pd.DataFrame, class_names: list[str],
                           setup: FewLabelSetup, csp_checkpoint: str | None, seed: int) -> np.ndarray:
    """P(y | x) of a location classifier fine-tuned on ``train`` for ``setup.steps`` steps."""
    L.seed_everything(seed, verbose=False)
    task = LocationClassifierTask(class_names, setup.location_encoder, setup.encoder_params,
                                  csp_checkpoint=csp_checkpoint, lr=setup.lr)
    loader = DataLoader(point_tensors(train), batch_size=min(setup.batch_size, len(train)), shuffle=True)
    trainer = L.Trainer(max_steps=setup.steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, loader)
    return task.predict_proba(point_tensors(test).tensors[0]).numpy()


def evaluate_ratio(train: pd.DataFrame, test: pd.DataFrame, features: dict[int, np.ndarray],
                   class_names: list[str], ratio: float, seed: int, setup: FewLabelSetup,
                   csp_checkpoint: str | None) -> list[dict]:
    """Rows ``{ratio, seed, model, top1, top3}`` for the image, location and fused classifiers.

    ``features`` maps record index → frozen image feature vector (train and test records).
    """
    subset = label_subset(train, ratio, seed)
    labels = test["label"].to_numpy()
    stack = lambda frame: np.stack([features[i] for i in frame.index])  # noqa: E731
    p_image = image_probabilities(stack(subset), subset["label"].to_numpy(), stack(test), len(class_names), seed)
    results = {"image only": p_image}
    inits = {"random init": None, **({"CSP": csp_checkpoint} if csp_checkpoint else {})}
    for init, checkpoint in inits.items():
        p_location = location_probabilities(subset, test, class_names, setup, checkpoint, seed)
        results[f"location only ({init})"] = p_location
        results[f"fused ({init})"] = fuse(p_image.astype(np.float32), p_location.astype(np.float32))
    return [{"ratio": ratio, "seed": seed, "n_train": len(subset), "model": name,
             "top1": topk_accuracy(p, labels, 1), "top3": topk_accuracy(p, labels, 3)}
            for name, p in results.items()]


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Mean and standard deviation over seeds per (ratio, model)."""
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["ratio", "model"], sort=False)
    table = grouped.agg(n_train=("n_train", "mean"), top1=("top1", "mean"), top1_std=("top1", "std"),
                        top3=("top3", "mean"), top3_std=("top3", "std"), seeds=("seed", "count"))
    return table.reset_index().fillna(0.0)


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a markdown table (percentages, mean ± std over seeds)."""
    lines = ["| label ratio | train labels | model | top-1 % | top-3 % |", "|---|---|---|---|---|"]
    for row in summary.itertuples():
        lines.append(f"| {row.ratio * 100:g} % | {row.n_train:g} | {row.model} | "
                     f"{row.top1 * 100:.1f} ± {row.top1_std * 100:.1f} | {row.top3 * 100:.1f} ± {row.top3_std * 100:.1f} |")
    return "\n".join(lines)


def torch_quiet() -> None:
    """One thread, no per-fit banners: many tiny fits in a row."""
    torch.set_num_threads(1)
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
