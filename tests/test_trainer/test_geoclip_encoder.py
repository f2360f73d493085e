"""The ``geoclip`` encoder (our own code): Equal Earth projection, Fourier branches, config round trip."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import torch

from trainer.encoders import build_location_encoder
from trainer.encoders.geoclip import PROJECTED_SCALE, equal_earth
from trainer.errors import TrainerError

SMALL = {"num_features": 16, "hidden_dim": 32, "num_hidden_layers": 2, "out_dim": 8}


@pytest.fixture(scope="module")
def cities(city_latlon) -> torch.Tensor:
    return torch.from_numpy(city_latlon[::20])


def test_projection_is_proj_equal_earth_scaled(cities):
    edges = torch.tensor([[90.0, 180.0], [-90.0, -180.0], [0.0, 180.0], [0.0, -180.0], [45.0, 0.0]])
    latlon = torch.cat([cities, edges])
    x, y = pyproj.Proj("+proj=eqearth +R=1")(latlon[:, 1].double().numpy(), latlon[:, 0].double().numpy())
    expected = np.stack([x, y], axis=1) * PROJECTED_SCALE
    np.testing.assert_allclose(equal_earth(latlon).numpy(), expected, atol=2e-6, rtol=0)
    assert equal_earth(torch.tensor([[0.0, 180.0]]))[0, 0] == pytest.approx(1.0, abs=1e-4)  # x spans [-1, 1]


def test_branches_are_summed_and_config_rebuilds_the_same_model(cities):
    encoder = build_location_encoder("geoclip", sigmas=[1, 16], **SMALL).eval()
    assert len(encoder.branches) == 2 and encoder.out_dim == 8
    with torch.no_grad():
        out = encoder(cities)
        xy = equal_earth(cities)
        assert torch.allclose(out, encoder.branches[0](xy) + encoder.branches[1](xy), atol=1e-6)
    config = encoder.config()
    assert config["name"] == "geoclip" and config["params"]["sigmas"] == [1.0, 16.0]
    rebuilt = build_location_encoder(config["name"], **config["params"]).eval()
    for ours, again in zip(encoder.branches, rebuilt.branches, strict=True):
        assert torch.equal(ours.features.b, again.features.b)  # B re-drawn from the seed
    rebuilt.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(cities), out)


def test_fourier_matrices_have_the_branch_scale():
    encoder = build_location_encoder("geoclip", sigmas=[1, 256], num_features=4096, out_dim=4, hidden_dim=4)
    stds = [float(branch.features.b.std()) for branch in encoder.branches]
    assert stds[0] == pytest.approx(1, rel=0.05) and stds[1] == pytest.approx(256, rel=0.05)
    assert not any(buffer.requires_grad for buffer in encoder.buffers())


def test_default_layout_is_geoclips():
    encoder = build_location_encoder("geoclip")
    assert encoder.config()["params"]["sigmas"] == [1.0, 16.0, 256.0]
    assert sum(p.numel() for p in encoder.parameters()) == 9_447_936  # 3 × (512·1024 + 2·1024² + 1024·512 + biases)


def test_not_periodic_at_the_dateline_like_geoclip():
    encoder = build_location_encoder("geoclip", **SMALL).eval()
    with torch.no_grad():
        east, west = encoder(torch.tensor([[10.0, 180.0], [10.0, -180.0]]))
    assert not torch.allclose(east, west)  # the two edges of the Equal Earth map


def test_bad_inputs_and_params_are_refused():
    encoder = build_location_encoder("geoclip", **SMALL)
    with pytest.raises(ValueError, match="lat"):
        encoder(torch.tensor([[91.0, 0.0]]))
    with pytest.raises(TrainerError, match="frequency_num"):
        build_location_encoder("geoclip", frequency_num=4)
    with pytest.raises(TrainerError, match="sigmas"):
        build_location_encoder("geoclip", sigmas=[])
