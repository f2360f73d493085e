"""Presence-only location priors (CSP's fine-tuning loss): the loss, training on real EuroSAT points,
and the sigmoid prior's ONNX export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.probabilities import entropy, fuse
from trainer.cli import main
from trainer.data.points import point_records, point_tensors
from trainer.errors import TrainerError
from trainer.losses.csp import uniform_sphere_latlon
from trainer.losses.presence import presence_only_loss
from trainer.tasks.location_classifier import LocationClassifierTask

REPO = Path(__file__).resolve().parents[2]
SMALL_ENCODER = {"frequency_num": 8, "hidden_dim": 32, "out_dim": 16, "dropout": 0.0}


@pytest.fixture(scope="module")
def eurosat_points():
    torch.set_num_threads(1)
    return point_tensors(point_records("eurosat").groupby("label").head(2)).tensors  # 20 real patch centres


def test_loss_matches_a_hand_computation():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
    background = torch.tensor([[-3.0, 0.2, 1.0]])
    labels = torch.tensor([0, 2])
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    pos, neg = (lambda z: -math.log(sig(z))), (lambda z: -math.log(1 - sig(z)))  # noqa: E731
    data = (3 * pos(2.0) + neg(-1.0) + neg(0.5) + neg(0.0) + neg(1.0) + 3 * pos(-2.0)) / 6  # λ = 3 classes
    bg = (neg(-3.0) + neg(0.2) + neg(1.0)) / 3
    assert presence_only_loss(logits, labels, background).item() == pytest.approx(data + bg, rel=1e-6)
    weighted = (pos(2.0) + neg(-1.0) + neg(0.5) + neg(0.0) + neg(1.0) + pos(-2.0)) / 6 + 0.5 * bg
    assert presence_only_loss(logits, labels, background, positive_weight=1.0,
                              background_weight=0.5).item() == pytest.approx(weighted, rel=1e-6)


def test_loss_decreases_and_gradients_flow_on_real_points(eurosat_points):
    latlon, labels = eurosat_points
    torch.manual_seed(0)
    task = LocationClassifierTask([str(i) for i in range(10)], encoder_params=SMALL_ENCODER, loss="presence_only")
    assert task.head.bias is None  # the authors' bias-free class embeddings
    fixed_background = uniform_sphere_latlon(64, generator=torch.Generator().manual_seed(0))

    def loss() -> torch.Tensor:
        return presence_only_loss(task(latlon), labels, task(fixed_background))

    first = loss()
    first.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.parameters())
    optimizer = torch.optim.Adam(task.parameters(), lr=3e-3)
    for _ in range(80):
        optimizer.zero_grad()
        presence_only_loss(task(latlon), labels, task(uniform_sphere_latlon(len(labels)))).backward()
        optimizer.step()
    with torch.no_grad():
        assert loss() < 0.5 * first.detach()
        presence = task.predict_proba(latlon)
    assert presence[torch.arange(len(labels)), labels].mean() > presence.mean()  # own class more present


def test_unknown_loss_is_refused():
    with pytest.raises(TrainerError, match="loss 'hinge' is not one of softmax, presence_only"):
        LocationClassifierTask(["a", "b"], loss="hinge")


def test_finetune_cli_trains_and_exports_a_sigmoid_prior(eurosat_points, tmp_path, capsys):
    latlon, _ = eurosat_points
    assert main(["prior", "--config", str(REPO / "trainer/configs/prior_eurosat.yaml"), "--model.loss",
                 "presence_only", "--model.encoder_params", "{frequency_num: 8, hidden_dim: 32, out_dim: 16}",
                 "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
                 "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
                 "--trainer.default_root_dir", str(tmp_path)]) == 0
    checkpoint, out = tmp_path / "final.ckpt", tmp_path / "prior.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "location_prior", "--out", str(out)]) == 0
    assert "parity ok" in capsys.readouterr().out
    model = OnnxModel.load(out)
    meta = model.metadata
    assert meta.output_activation == "sigmoid" and meta.training["loss"] == "presence_only"
    assert "presence probability" in meta.description and "self check ok" in model.self_check()
    restored = LocationClassifierTask.load_from_checkpoint(checkpoint, map_location="cpu")
    presence = model.run(latlon=latlon.numpy())
    np.testing.assert_allclose(presence, restored.predict_proba(latlon).numpy(), atol=1e-5)
    assert ((presence > 0) & (presence < 1)).all() and not np.allclose(presence.sum(axis=1), 1.0, atol=1e-2)
    p_image = np.full_like(presence, 0.1)
    fused = fuse(p_image, presence)  # CSP's P(y | I) · σ(w_y · e(x)), renormalised
    np.testing.assert_allclose(fused, presence / presence.sum(axis=1, keepdims=True), rtol=1e-5)


def test_entropy_of_presence_rows_is_that_of_the_normalised_rows():
    presence = np.array([[0.9, 0.9, 0.9], [0.02, 0.01, 0.01], [0.5, 0.25, 0.25]], np.float32)
    normalised = presence / presence.sum(axis=1, keepdims=True)
    expected = -(normalised * np.log(normalised)).sum(axis=1)
    np.testing.assert_allclose(entropy(presence), expected, rtol=1e-5)
    np.testing.assert_allclose(entropy(normalised), expected, rtol=1e-5)  # softmax rows: plain entropy
    assert entropy(presence)[0] == pytest.approx(np.log(3))  # all equally present: maximal uncertainty
