"""Location priors by evidence: ``prior`` trains to the best validation log-loss, chooses learned, kNN or
hybrid on validation, stores the choice, and ``export`` writes each recipe as a valid location_prior whose
onnxruntime outputs are the trained task's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch

from qgis_csp_plugin.contract.knn_prior import ENCODER_NAME
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.cli import main
from trainer.data.splits import carve_validation
from trainer.errors import TrainerError
from trainer.evaluation.few_label import FewLabelSetup, batch_size_for, fit_location_classifier
from trainer.evaluation.nearest_neighbour import choose_k, knn_probabilities
from trainer.tasks.location_classifier import LocationClassifierTask

REPO = Path(__file__).resolve().parents[2]
SMALL = "{frequency_num: 8, hidden_dim: 32, out_dim: 16}"


def train_prior(tmp_path: Path, recipe: str, *extra: str) -> Path:
    """A small continent prior on 5 % of the cities (one epoch), recipe ``recipe``; its final checkpoint."""
    assert main(["prior", "--config", str(REPO / "trainer/configs/prior_continents.yaml"),
                 "--model.encoder_params", SMALL, "--model.prior_recipe", recipe, "--data.label_ratio", "0.05",
                 "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
                 "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
                 "--trainer.default_root_dir", str(tmp_path), *extra]) == 0
    return tmp_path / "final.ckpt"


@pytest.mark.parametrize("recipe", ["knn", "hybrid"])
def test_knn_and_hybrid_priors_export_and_match_the_task(tmp_path, capsys, recipe):
    checkpoint = train_prior(tmp_path, recipe)
    out = capsys.readouterr().out
    assert f"prior recipe: {recipe}" in out and "baselines on the held-out split: 1-NN top-1" in out
    top1 = float(out.split(f"location prior ({recipe}): held-out top-1 ")[1].split(",")[0])
    assert top1 > 0.9
    onnx_path = tmp_path / "prior.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "location_prior", "--out", str(onnx_path)]) == 0
    assert "parity ok" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(onnx_path)), full_check=True)
    model = OnnxModel.load(onnx_path)
    meta = model.metadata
    assert meta.kind == "location_prior" and meta.training["prior_recipe"]["chosen"] == recipe
    assert meta.metrics["heldout_top1"] == pytest.approx(top1, abs=1e-4)
    task = LocationClassifierTask.load_from_checkpoint(checkpoint, map_location="cpu")
    query = np.array([[48.85, 2.35], [-33.9, 151.2], [35.7, 139.7], [0.0, -180.0], [-60.0, -100.0]], np.float32)
    np.testing.assert_allclose(model.run(latlon=query), task.prior_probabilities(torch.from_numpy(query)), atol=1e-5)
    if recipe == "knn":
        params = meta.location_encoder["params"]
        assert meta.location_encoder["name"] == ENCODER_NAME and params["points"] == len(task.knn.labels)
        assert (params["k"], params["bandwidth_deg"]) == (task.knn.voters, task.knn.bandwidth_deg)
    else:
        assert 0 < meta.location_encoder["params"]["knn_weight"] < 1


def test_auto_recipe_records_its_validation_evidence(tmp_path, capsys):
    checkpoint = train_prior(tmp_path, "auto")
    task = LocationClassifierTask.load_from_checkpoint(checkpoint, map_location="cpu")
    selection = task.export_spec("location_prior").metadata.training["prior_recipe"]
    assert selection["chosen"] in ("learned", "knn", "hybrid")
    losses = selection["val_log_loss_by_knn_weight"]
    assert min(losses.values()) == losses[f"{selection['knn_weight']:g}"]
    assert selection["knn"]["data"] == "validation" and selection["knn"]["bandwidth_deg"] > 0


def test_early_stopping_keeps_the_best_validated_weights():
    cities = pd.read_csv(REPO / "data" / "points" / "cities15000.csv.gz", keep_default_na=False, na_values=[""])
    frame = cities.assign(label=(cities["lat"] > 0).astype(int), class_name="x")[["lat", "lon", "label"]]
    frame = frame.sample(600, random_state=0)
    parts = carve_validation(frame, 0.3, 0)
    setup = FewLabelSetup(encoder_params={"frequency_num": 4, "hidden_dim": 16, "out_dim": 8}, batch_size=None,
                          lr=0.01, max_epochs=40, patience=3)
    task, best = fit_location_classifier(parts["train"], parts["val"], ["south", "north"], setup, seed=0)
    losses = [row["val/loss"] for row in best.history]
    assert best.history[0]["epoch"] == -1  # the untrained model was validated too
    assert best.best == min(losses) and len(losses) <= 41
    assert len(losses) - 1 - losses.index(min(losses)) <= 3 or len(losses) == 41  # stopped `patience` after the best
    latlon = torch.tensor(parts["val"][["lat", "lon"]].to_numpy(np.float32))
    p = task.predict_proba(latlon)
    kept = torch.nn.functional.nll_loss(p.log(), torch.tensor(parts["val"]["label"].to_numpy()))
    assert float(kept) == pytest.approx(best.best, rel=1e-4)  # the restored weights are the best epoch's
    assert (batch_size_for(300), batch_size_for(1_300), batch_size_for(27_000)) == (32, 32, 512)


def test_nearest_neighbours_on_haversine_distance():
    points = np.array([[10.0, 179.9], [10.0, 0.0], [-10.0, 90.0]])
    labels = np.array([0, 1, 2])
    one = knn_probabilities(points, labels, np.array([[10.0, -179.9]]), 3, k=1)
    assert one.tolist() == [[1.0, 0.0, 0.0]]  # across the dateline
    k, scores = choose_k(points, labels, points, labels, 3, ks=(1, 3))
    assert k == 1 and scores[1] == 1.0


def test_recipes_need_the_softmax_loss():
    with pytest.raises(TrainerError, match="needs the softmax loss"):
        LocationClassifierTask(["a", "b"], loss="presence_only", prior_recipe="knn")
    with pytest.raises(TrainerError, match="prior_recipe 'best'"):
        LocationClassifierTask(["a", "b"], prior_recipe="best")
