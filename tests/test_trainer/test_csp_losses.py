"""CSP objectives on a tiny real batch: EuroSAT patch centres and their frozen image features."""

from __future__ import annotations

import pytest
import torch

from trainer.data.band_statistics import band_statistics
from trainer.data.registry import image_records
from trainer.data.tiles import crop_pixels
from trainer.encoders import build_location_encoder
from trainer.errors import TrainerError
from trainer.losses.csp import CspLoss, uniform_sphere_latlon
from trainer.models.frozen import frozen_features


@pytest.fixture(scope="module")
def real_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.set_num_threads(1)
    records = image_records("eurosat").groupby("label").head(2)  # 20 patches, 2 per class
    pixels = crop_pixels(records, ["B02", "B03", "B04", "B08"], 64)
    features = frozen_features(pixels, *band_statistics(pixels), "resnet10t_w32")
    return torch.tensor(records[["lat", "lon"]].to_numpy(), dtype=torch.float32), features


def _step(loss: CspLoss, encoder, projection, latlon, features) -> dict[str, torch.Tensor]:
    return loss(encoder(latlon), projection(features), encoder(latlon), encoder(uniform_sphere_latlon(32)))


@pytest.mark.parametrize("form", ["mc", "nce"])
def test_loss_decreases_and_gradients_flow(form, real_batch):
    torch.manual_seed(0)
    latlon, features = real_batch
    encoder = build_location_encoder("sphereC+", hidden_dim=64, out_dim=32, dropout=0.2)
    projection = torch.nn.Linear(features.shape[1], 32)
    loss = CspLoss(form, {"B": 1.0, "L": 1.0, "D": 1.0}, {"B": 0.1, "L": 0.1, "D": 0.1})
    optimizer = torch.optim.Adam([*encoder.parameters(), *projection.parameters()], lr=3e-3)
    first = _step(loss, encoder, projection, latlon, features)
    assert set(first) == {"B", "L", "D", "loss"}
    first["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.mlp.parameters())
    assert projection.weight.grad.abs().sum() > 0
    for _ in range(60):
        optimizer.zero_grad()
        _step(loss, encoder, projection, latlon, features)["loss"].backward()
        optimizer.step()
    torch.manual_seed(1)
    with torch.no_grad():
        last = _step(loss, encoder, projection, latlon, features)
    assert last["B"] < 0.7 * first["B"].detach()


def test_weights_select_objectives(real_batch):
    latlon, features = real_batch
    loc = torch.randn(len(latlon), 8)
    only_b = CspLoss("mc", {"B": 1.0, "L": 0.0, "D": 0.0})(loc, torch.randn(len(latlon), 8))
    assert set(only_b) == {"B", "loss"} and torch.equal(only_b["B"], only_b["loss"])
    with pytest.raises(TrainerError, match="objective L needs"):
        CspLoss("mc", {"L": 1.0})(loc, loc)


def test_perfect_alignment_scores_low_loss():
    emb = torch.nn.functional.normalize(torch.eye(8), dim=1)
    aligned = CspLoss("mc", {"B": 1.0, "D": 1.0}, {"B": 0.05, "D": 0.05})(emb, emb, emb)
    shuffled = CspLoss("mc", {"B": 1.0, "D": 1.0}, {"B": 0.05, "D": 0.05})(emb, emb.roll(1, 0), emb)
    assert aligned["B"] < 1e-3 < shuffled["B"]


@pytest.mark.parametrize("bad, message", [({"form": "softmax"}, "loss form 'softmax'"),
                                          ({"weights": {"X": 1.0}}, "objective 'X'"),
                                          ({"weights": {"B": 0.0}}, "select no objective"),
                                          ({"temperatures": {"B": 0.0}}, "temperature for objective B")])
def test_bad_settings_name_the_value(bad, message):
    with pytest.raises(TrainerError, match=message):
        CspLoss(**bad)


def test_random_locations_are_uniform_on_the_sphere():
    latlon = uniform_sphere_latlon(200_000, generator=torch.Generator().manual_seed(0))
    assert latlon[:, 0].abs().max() <= 90 and latlon[:, 1].abs().max() <= 180
    z = torch.sin(torch.deg2rad(latlon[:, 0]))  # uniform on [-1, 1] for a uniform sphere
    assert abs(float(z.mean())) < 0.01 and abs(float((z.abs() < 0.5).float().mean()) - 0.5) < 0.01
    assert abs(float((latlon[:, 1] > 0).float().mean()) - 0.5) < 0.01
