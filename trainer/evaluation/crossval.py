"""Cross-validated accuracy of an image classifier recipe, with 95 % confidence intervals.

Every labelled patch is tested exactly once (stratified k-fold, :func:`trainer.data.splits.fold_split`);
each fold's model is exported to ONNX and run by onnxruntime as the plugin's Classify runs it, each patch
a layer of its own (:func:`trainer.evaluation.as_classify.run_as_classify`: the model's radiometry, e.g.
``layer_percentiles``, applied through the plugin's contract code). Besides the patches as they are,
each test patch is also classified *degraded to a coarser ground sample distance* (:func:`degrade`:
area-averaged to e.g. 30 m pixels, then read back at the model's 10 m by nearest neighbour, as QGIS's
data provider resamples a 30 m layer for Classify; its radiometry is that of the coarser layer).
Accuracy and per-class recall are pooled over all folds with Wilson score intervals (:func:`wilson`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import binomtest

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.evaluation.as_classify import read_patches, run_as_classify


def degrade(pixels: np.ndarray, factor: float) -> np.ndarray:
    """``(N, C, H, W)`` pixels as a sensor with ``factor``-times larger pixels, resampled back to H x W."""
    height, width = pixels.shape[2:]
    small = (max(1, round(height / factor)), max(1, round(width / factor)))
    coarse = F.interpolate(torch.from_numpy(np.ascontiguousarray(pixels, np.float32)), size=small, mode="area")
    return F.interpolate(coarse, size=(height, width), mode="nearest").numpy()


def fold_predictions(model: OnnxModel, test: pd.DataFrame, degrade_factors: dict[str, float],
                     batch: int = 64) -> pd.DataFrame:
    """One row per test record: ``image_path, label`` and the predicted class per condition
    (``native`` and each name of ``degrade_factors``)."""
    patches = read_patches(model, test)
    rows = test[["image_path", "label", "class_name"]].reset_index(drop=True).copy()
    conditions = {"native": patches.pixels, **{name: degrade(patches.pixels, f) for name, f in degrade_factors.items()}}
    latlon = test[["lat", "lon"]].to_numpy(np.float32) if {"lat", "lon"} <= set(test.columns) else None
    for name, images in conditions.items():
        rows[name] = run_as_classify(model, images, patches.layers, batch, latlon).argmax(axis=1)
    return rows


def wilson(correct: int, total: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``correct / total``."""
    interval = binomtest(int(correct), int(total)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def accuracy_table(predictions: pd.DataFrame, conditions: list[str], class_names: list[str]) -> pd.DataFrame:
    """Rows ``class`` (each class's recall, then ``all`` = overall accuracy) x per condition
    ``accuracy, low, high`` (95 % Wilson CI) and ``n``."""
    rows = []
    for name in [*class_names, "all"]:
        part = predictions if name == "all" else predictions[predictions["class_name"] == name]
        row = {"class": name, "n": len(part)}
        for condition in conditions:
            correct = int((part[condition] == part["label"]).sum())
            low, high = wilson(correct, len(part)) if len(part) else (np.nan, np.nan)
            row.update({f"{condition}": correct / max(len(part), 1), f"{condition}_low": low,
                        f"{condition}_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_accuracy(table: pd.DataFrame, conditions: list[str]) -> str:
    """The table as markdown: ``acc [low, high]`` per condition."""
    header = "| class | n | " + " | ".join(conditions) + " |"
    lines = [header, "|" + "---|" * (len(conditions) + 2)]
    for row in table.to_dict("records"):
        cells = [f"{row[c]:.3f} [{row[c + '_low']:.3f}, {row[c + '_high']:.3f}]" for c in conditions]
        name = "**all (accuracy)**" if row["class"] == "all" else row["class"]
        lines.append(f"| {name} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
