"""Linear probe of a frozen image encoder as the plugin runs it (exported ONNX, onnxruntime):
logistic regression on its embeddings of labelled patches, on a fixed split or k-fold cross-validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.evaluation.as_classify import read_patches, run_as_classify


def embed(encoder: OnnxModel, records: pd.DataFrame, batch: int = 64) -> np.ndarray:
    """The image encoder's embeddings of the records' patches (one seeded crop each; whole 64 px EuroSAT
    patches), each patch a layer as the plugin reads it (the encoder's radiometry applied)."""
    patches = read_patches(encoder, records)
    return run_as_classify(encoder, patches.pixels, patches.layers, batch)


def fit_probe(features: np.ndarray, labels: np.ndarray) -> Pipeline:
    """Standardised features + multinomial logistic regression (fixed settings, nothing tuned)."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(features, labels)


def cv_predictions(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each patch's class predicted by the probe of the stratified fold that did not train on it."""
    predicted = np.empty(len(labels), dtype=np.int64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        predicted[test] = fit_probe(features[train], labels[train]).predict(features[test])
    return predicted
