"""Few-label evaluation of CSP (paper protocol): image-only, location-only and fused classifiers.

For every label ratio and seed, a stratified subset of the training split trains (1) a linear head
on frozen image features, P(y | I); (2) location classifiers from random init and from a CSP
checkpoint, with each loss of ``FewLabelSetup.losses`` (``softmax`` or CSP's ``presence_only``), next to
the location-only baselines 1-NN and k-NN (haversine, k chosen on validation).
Fusion is P(y | I, x) ∝ P(y | I) · P(y | x) (:func:`qgis_csp_plugin.contract.probabilities.fuse`; with a
presence-only prior this is CSP's P(y | I) · σ(w_y · e(x)), renormalised). Optionally, a tempered
fusion P(y | I) · P(y | x)^α with α chosen among ``FewLabelSetup.prior_exponents`` by the fused
log-likelihood on the validation split (α = 0 is image-only). Metrics are top-1/top-3 on the
validation and the held-out test split; nothing is chosen on the test split (fixed hyper-parameters,
fixed step counts). Tables: :mod:`trainer.evaluation.report`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader

from qgis_csp_plugin.contract.probabilities import fuse
from trainer.data.points import point_tensors
from trainer.data.splits import label_subset
from trainer.errors import TrainerError
from trainer.evaluation.nearest_neighbour import choose_k, knn_probabilities
from trainer.tasks.early_stopping import BestWeights, early_stopping
from trainer.tasks.location_classifier import LocationClassifierTask

#: Row names of the losses in tables.
LOSS_NAMES = {"softmax": "softmax", "presence_only": "presence-only"}


@dataclass
class FewLabelSetup:
    """Training settings of the location classifiers (never chosen on the test split). With validation
    points a run stops ``patience`` epochs after its lowest validation log-loss (at most ``max_epochs``) and
    keeps those weights; without, it runs ``steps`` optimiser steps. ``batch_size`` ``None`` scales with the
    training points (:func:`batch_size_for`)."""

    location_encoder: str = "sphereC+"
    encoder_params: dict | None = None
    steps: int = 300
    batch_size: int | None = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"
    encoder_lr: float | None = None
    max_epochs: int = 200
    patience: int = 10
    losses: tuple[str, ...] = ("softmax",)
    prior_exponents: tuple[float, ...] = ()  # candidates for α, chosen on the validation split


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


def best_exponent(p_image: np.ndarray, p_location: np.ndarray, labels: np.ndarray,
                  candidates: tuple[float, ...]) -> float:
    """The α of ``candidates`` whose fusion P(y | I) · P(y | x)^α has the lowest negative log-likelihood
    of ``labels`` (validation data); ties go to the smaller α."""
    def nll(alpha: float) -> float:
        fused = fuse(p_image, p_location ** np.float32(alpha))
        return float(-np.log(np.clip(fused[np.arange(len(labels)), labels], 1e-12, None)).mean())

    return min(sorted(candidates), key=nll)


def batch_size_for(n_train: int, low: int = 32, high: int = 512) -> int:
    """A power of two near ``n_train / 50`` in [``low``, ``high``]: ~50 steps an epoch, at least ``low``."""
    return int(min(high, max(low, 2 ** round(math.log2(max(n_train, 1) / 50)))))


def fit_location_classifier(train: pd.DataFrame, val: pd.DataFrame | None, class_names: list[str],
                            setup: FewLabelSetup, seed: int, prepare: Callable[[LocationClassifierTask], None] | None
                            = None, max_epochs: int | None = None, **task_options) -> tuple[LocationClassifierTask,
                                                                                          BestWeights | None]:
    """A :class:`LocationClassifierTask` (``task_options``: its arguments beyond the setup's) trained on
    ``train``: with ``val`` points, epochs until ``setup.patience`` epochs without a lower validation
    log-loss (at most ``max_epochs`` or ``setup.max_epochs``) and the best weights kept, else ``setup.steps``
    steps. ``prepare(task)`` runs before training (e.g. a probe-initialised head from cached embeddings).
    Returns the task and the callback holding its training curve (``None`` without ``val``)."""
    L.seed_everything(seed, verbose=False)
    task = LocationClassifierTask(class_names, setup.location_encoder, setup.encoder_params, lr=setup.lr,
                                  lr_schedule=setup.lr_schedule, encoder_lr=setup.encoder_lr, **task_options)
    if prepare is not None:
        prepare(task)
    batch = min(setup.batch_size or batch_size_for(len(train)), len(train))
    loader = DataLoader(point_tensors(train), batch_size=batch, shuffle=True)
    quiet = {"accelerator": "cpu", "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
             "enable_model_summary": False}
    if val is None or not len(val):
        L.Trainer(max_steps=setup.steps, **quiet).fit(task, loader)
        return task, None
    callbacks = early_stopping(setup.patience)
    trainer = L.Trainer(max_epochs=max_epochs or setup.max_epochs, callbacks=callbacks, num_sanity_val_steps=-1,
                        **quiet)
    trainer.fit(task, loader, DataLoader(point_tensors(val), batch_size=4096))
    return task, callbacks[-1]


def location_probabilities(train: pd.DataFrame, test: pd.DataFrame, class_names: list[str],
                           setup: FewLabelSetup, csp_checkpoint: str | None, seed: int,
                           loss: str = "softmax", pretrained_encoder: str | None = None,
                           freeze_encoder: bool = False, standardise_embedding: bool = False,
                           val: pd.DataFrame | None = None) -> np.ndarray:
    """P(y | x) (softmax) or per-class presence σ (presence-only) of a location classifier fine-tuned on
    ``train`` (:func:`fit_location_classifier`: early stopping on ``val``, else ``setup.steps`` steps), at the
    locations of ``test``; the encoder starts from random init, ``csp_checkpoint`` or ``pretrained_encoder``
    (``geoclip``), fine-tuned or ``freeze_encoder`` (``standardise_embedding``: see
    :class:`LocationClassifierTask`)."""
    task, _ = fit_location_classifier(train, val, class_names, setup, seed, csp_checkpoint=csp_checkpoint, loss=loss,
                                      pretrained_encoder=pretrained_encoder, freeze_encoder=freeze_encoder,
                                      standardise_embedding=standardise_embedding)
    return task.predict_proba(point_tensors(test).tensors[0]).numpy()


def evaluate_ratio(train: pd.DataFrame, evaluated: dict[str, pd.DataFrame], features: dict[int, np.ndarray],
                   class_names: list[str], ratio: float, seed: int, setup: FewLabelSetup,
                   csp_checkpoint: str | None) -> list[dict]:
    """Rows ``{ratio, seed, n_train, split, n_eval, model, prior_exponent, top1, top3}`` of the image,
    location and fused classifiers on each split of ``evaluated`` (``{"val": …, "test": …}``; the
    tempered fusion's α is chosen on ``val``).

    ``features`` maps record index → frozen image feature vector (train and evaluated records).
    """
    if setup.prior_exponents and not len(evaluated.get("val", ())):
        raise TrainerError("choosing the prior exponent needs a non-empty validation split")
    subset = label_subset(train, ratio, seed)
    frames = [frame for frame in evaluated.values() if len(frame)]
    split = np.concatenate([[name] * len(frame) for name, frame in evaluated.items() if len(frame)])
    points = pd.concat(frames)
    stack = lambda frame: np.stack([features[i] for i in frame.index])  # noqa: E731
    p_image = image_probabilities(stack(subset), subset["label"].to_numpy(), stack(points), len(class_names),
                                  seed).astype(np.float32)
    labels, val = points["label"].to_numpy(), split == "val"
    results, exponents = {"image only": p_image}, {}
    results.update(nearest_neighbour_rows(subset, points[val], points, len(class_names)))
    inits = {"random init": None, **({"CSP": csp_checkpoint} if csp_checkpoint else {})}
    for loss in setup.losses:
        for init, checkpoint in inits.items():
            name = f"{init}, {LOSS_NAMES[loss]}"
            p_location = location_probabilities(subset, points, class_names, setup, checkpoint, seed,
                                                loss).astype(np.float32)
            results[f"location only ({name})"] = p_location
            results[f"fused ({name})"] = fuse(p_image, p_location)
            if setup.prior_exponents:
                alpha = best_exponent(p_image[val], p_location[val], labels[val], setup.prior_exponents)
                exponents[f"fused ({name}, α on val)"] = alpha
                results[f"fused ({name}, α on val)"] = fuse(p_image, p_location ** np.float32(alpha))
    return [{"ratio": ratio, "seed": seed, "n_train": len(subset), "split": part, "n_eval": int(rows.sum()),
             "model": model, "prior_exponent": exponents.get(model, np.nan),
             "top1": topk_accuracy(p[rows], labels[rows], 1), "top3": topk_accuracy(p[rows], labels[rows], 3)}
            for part in evaluated if (rows := split == part).any() for model, p in results.items()]


def nearest_neighbour_rows(train: pd.DataFrame, val: pd.DataFrame, points: pd.DataFrame,
                           n_classes: int) -> dict[str, np.ndarray]:
    """The location-only baselines at ``points``: 1-NN and distance-weighted k-NN on haversine distance (k chosen
    by top-1 on ``val``; k = 1 without validation points)."""
    latlon = lambda frame: frame[["lat", "lon"]].to_numpy(np.float64)  # noqa: E731
    labels = train["label"].to_numpy()
    k = choose_k(latlon(train), labels, latlon(val), val["label"].to_numpy(), n_classes)[0] if len(val) else 1
    return {"location only (1-NN)": knn_probabilities(latlon(train), labels, latlon(points), n_classes, 1),
            "location only (k-NN, k on val)": knn_probabilities(latlon(train), labels, latlon(points), n_classes, k)}


def torch_quiet() -> None:
    """One thread, no per-fit banners or warnings: many tiny fits in a row."""
    torch.set_num_threads(1)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
