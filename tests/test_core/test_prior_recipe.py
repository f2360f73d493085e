"""OUTPUT_PRIOR's recipe by evidence (core, no Qt): learned (location encoder + logistic head), kNN or hybrid,
chosen by the out-of-fold log-loss on real points (GeoNames cities, continents) and written with numpy alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from qgis_csp_plugin.contract.knn_prior import log_loss
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import ModelMetadata
from qgis_csp_plugin.core.logistic_regression import fit_logistic, group_folds
from qgis_csp_plugin.core.prior_recipe import (
    choose_prior,
    out_of_fold_knn,
    out_of_fold_logistic,
    prior_encoder_metadata,
    prior_model_bytes,
)

REPO = Path(__file__).resolve().parents[2]
ENCODER = REPO / "models" / "csp_location_encoder.onnx"
CONTINENTS = ["AF", "AS", "EU", "NA", "SA"]


@pytest.fixture(scope="module")
def cities():
    frame = pd.read_csv(REPO / "data" / "points" / "cities15000.csv.gz", keep_default_na=False, na_values=[""])
    frame = frame[frame["continent"].isin(CONTINENTS)].sample(400, random_state=1)
    y = frame["continent"].map(CONTINENTS.index).to_numpy()
    return frame[["lat", "lon"]].to_numpy(), y, group_folds(y, np.arange(len(y)), 4)


def test_the_choice_has_the_lowest_out_of_fold_log_loss(cities):
    latlon, y, folds = cities
    encoder = OnnxModel.load(ENCODER)
    embeddings = encoder.run(latlon=latlon.astype(np.float32))
    choice = choose_prior(latlon, y, len(CONTINENTS), folds, embeddings)
    losses = choice.selection["cv_log_loss_by_knn_weight"]
    assert losses[f"{choice.mix:g}"] == min(losses.values())
    assert choice.selection["cv_log_loss_learned"] == pytest.approx(losses["0"], abs=1e-5)
    p_knn, p_learned = out_of_fold_knn(choice.knn or _knn(latlon, y, folds), folds), out_of_fold_logistic(
        embeddings, y, len(CONTINENTS), folds, 1.0, None)
    mixed = choice.mix * p_knn + (1 - choice.mix) * p_learned
    assert log_loss(mixed, y) == pytest.approx(min(losses.values()), abs=1e-4)
    assert choice.cv_accuracy == pytest.approx(float((mixed.argmax(axis=1) == y).mean()))
    assert choice.cv_accuracy > 0.9  # continents from coordinates


def _knn(latlon, y, folds):
    return choose_prior(latlon, y, len(CONTINENTS), folds, None).knn


@pytest.mark.parametrize("recipe", ["learned", "knn", "hybrid"])
def test_each_recipe_writes_a_valid_prior(cities, tmp_path, recipe):
    latlon, y, folds = cities
    encoder = OnnxModel.load(ENCODER)
    embeddings = encoder.run(latlon=latlon.astype(np.float32))
    choice = choose_prior(latlon, y, len(CONTINENTS), folds, embeddings)
    head = fit_logistic(embeddings, y, len(CONTINENTS))
    knn = _knn(latlon, y, folds)
    mix = {"learned": 0.0, "knn": 1.0, "hybrid": 0.4}[recipe]
    choice = replace(choice, recipe=recipe, mix=mix, knn=knn if mix > 0 else None, head=head if mix < 1 else None)
    meta = ModelMetadata.from_dict({"kind": "location_prior", "name": recipe, "class_names": CONTINENTS,
                                    "location_encoder": prior_encoder_metadata(
                                        choice, encoder.metadata.location_encoder)})
    data = prior_model_bytes(choice, ENCODER.read_bytes(), meta.to_props(), meta.describe())
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    (tmp_path / "prior.onnx").write_bytes(data)
    model = OnnxModel.load(tmp_path / "prior.onnx")
    query = np.array([[48.85, 2.35], [-23.5, -46.6], [35.7, 139.7], [-60.0, -120.0]], np.float32)
    learned = head.predict_proba(encoder.run(latlon=query)) if mix < 1 else 0.0
    expected = mix * (knn.probabilities(query) if mix > 0 else 0.0) + (1 - mix) * learned
    np.testing.assert_allclose(model.run(latlon=query), expected, atol=1e-5)
    assert model.metadata.location_encoder["name"] == {"learned": encoder.metadata.location_encoder["name"],
                                                       "knn": "knn_haversine",
                                                       "hybrid": "sphereC++knn_haversine"}[recipe]


def test_without_an_encoder_the_prior_is_knn(cities):
    latlon, y, folds = cities
    choice = choose_prior(latlon, y, len(CONTINENTS), folds, None)
    assert (choice.recipe, choice.mix, choice.head) == ("knn", 1.0, None)
    assert choice.selection["knn"]["data"].startswith("leave-one-group-out")
