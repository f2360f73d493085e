"""Location encoders: shapes, config round trip, dateline/pole behaviour, bad inputs, reference values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from trainer.encoders import available_encoders, build_location_encoder
from trainer.encoders.mlp import Sine
from trainer.encoders.scales import geometric_frequencies
from trainer.errors import TrainerError

REQUIRED = ["wrap", "grid", "theory", "sphereC", "sphereC+", "sphereM", "sphereM+", "rbf", "rff", "NeRF",
            "xyz", "spherical_harmonics"]
PLANAR = {"grid", "theory"}  # Space2Vec on (lon, lat) as a plane: not periodic in longitude
POLE_CONSISTENT = {"xyz", "NeRF", "spherical_harmonics", "rbf", "rff"}
SMALL_MLP = {"hidden_dim": 32, "out_dim": 16, "num_hidden_layers": 2}


@pytest.fixture(scope="module")
def cities(city_latlon) -> torch.Tensor:
    """34,006 real (lat, lon) places (GeoNames)."""
    return torch.from_numpy(city_latlon)


def build(name: str, cities: torch.Tensor, **params) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "rbf":
        params.setdefault("train_locations", cities[::100].numpy())
        params.setdefault("num_centres", 64)
    return build_location_encoder(name, **SMALL_MLP, **params).eval()


def test_every_required_encoder_is_available():
    assert sorted(available_encoders()) == sorted([*REQUIRED, "geoclip"])  # geoclip: test_geoclip_encoder.py


@pytest.mark.parametrize("name", REQUIRED)
def test_output_shape_finite_and_config_rebuilds_same_model(name, cities):
    encoder = build(name, cities)
    batch = cities[:500]
    with torch.no_grad():
        out = encoder(batch)
    assert out.shape == (500, 16) and encoder.out_dim == 16 and encoder.name == name
    assert torch.isfinite(out).all()
    config = json.loads(json.dumps(encoder.config()))  # what the exporter writes into metadata
    rebuilt = build_location_encoder(config["name"], **config["params"]).eval()
    assert rebuilt.config() == config
    rebuilt.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(batch), out)
        assert torch.equal(rebuilt.encoding(batch), encoder.encoding(batch))


@pytest.mark.parametrize("name", REQUIRED)
def test_identical_output_at_both_sides_of_the_dateline(name, cities):
    encoder = build(name, cities)
    lat = torch.linspace(-89.5, 89.5, 37)
    west = torch.stack([lat, torch.full_like(lat, -180.0)], 1)
    east = torch.stack([lat, torch.full_like(lat, 180.0)], 1)
    with torch.no_grad():
        assert torch.equal(encoder(west), encoder(east))


@pytest.mark.parametrize("name", REQUIRED)
def test_sphere_encodings_are_periodic_in_longitude(name, cities):
    """PE(lat, lon) == PE(lat, lon - 360): continuous across the dateline; planar ones are not."""
    encoding = build(name, cities).encoding
    points = cities[:300]
    shifted = points - torch.tensor([0.0, 360.0])
    with torch.no_grad():
        gap = (encoding(points) - encoding(shifted)).abs().max().item()
    if name in PLANAR:
        assert gap > 0.1
    else:
        assert gap < 2e-3  # float32 rounding of angles up to ~3000 rad at the finest scale


@pytest.mark.parametrize("name", REQUIRED)
def test_poles_are_finite_and_consistent_where_the_encoding_is(name, cities):
    encoder = build(name, cities)
    lon = torch.linspace(-180.0, 180.0, 25)
    with torch.no_grad():
        for pole in (90.0, -90.0):
            out = encoder(torch.stack([torch.full_like(lon, pole), lon], 1))
            assert torch.isfinite(out).all()
            spread = (out - out[:1]).abs().max().item()
            if name in POLE_CONSISTENT:
                assert spread < 1e-4, f"{name} differs by {spread} between longitudes at latitude {pole}"


@pytest.mark.parametrize(("latlon", "message"), [
    ([[float("nan"), 10.0]], "not finite"),
    ([[95.0, 10.0]], "latitude 95"),
    ([[45.0, 200.0]], "longitude 200"),
    ([[45.0, 10.0, 0.0]], "shape"),
    ([[151.2, -33.9]], "swapped"),  # Sydney given as (lon, lat)
])
def test_bad_inputs_raise_value_error_naming_the_value(latlon, message, cities):
    encoder = build("sphereC+", cities)
    with pytest.raises(ValueError, match=message):
        encoder(torch.tensor(latlon))


def test_one_dimensional_input_is_rejected(cities):
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        build("xyz", cities)(torch.tensor([45.0, 10.0]))


def test_unknown_encoder_or_parameter_is_a_trainer_error():
    with pytest.raises(TrainerError, match="sphereX.*available: .*sphereC\\+"):
        build_location_encoder("sphereX")
    with pytest.raises(TrainerError, match="no parameter 'radius'"):
        build_location_encoder("grid", radius=3)
    with pytest.raises(TrainerError, match="activation 'swish'"):
        build_location_encoder("xyz", activation="swish")
    with pytest.raises(TrainerError, match="min_radius"):
        build_location_encoder("sphereM", min_radius=0.0)
    with pytest.raises(TrainerError, match="centres"):
        build_location_encoder("rbf")


def test_dropout_gives_simcse_positives_in_train_mode_only(cities):
    encoder = build("sphereC+", cities, dropout=0.3)
    batch = cities[:64]
    encoder.train()
    assert not torch.allclose(encoder(batch), encoder(batch))
    encoder.eval()
    with torch.no_grad():
        assert torch.equal(encoder(batch), encoder(batch))


def test_gradients_reach_every_mlp_parameter(cities):
    encoder = build("sphereM+", cities).train()
    encoder(cities[:32]).pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    assert not list(encoder.encoding.parameters())  # the position encoding has nothing to train


def test_geometric_radii_span_min_to_max_radius():
    freq = geometric_frequencies(5, 0.1, 360.0)
    assert torch.allclose(1 / freq, torch.tensor([0.1, 0.1 * 3600**0.25, 6.0, 360 / 3600**0.25, 360.0],
                                                 dtype=torch.float64))


# Values computed with the authors' code (github.com/gengchenmai/sphere2vec, SpatialRelationEncoder.py)
# for (lat, lon) = (37.77, -122.42): sphereM+ with 3 scales r' = 0.25, 0.5, 1 (unitless there,
# r' · 180/π degrees here) and Space2Vec-theory with 3 scales 10°..360°.
REFERENCE = {
    "sphereM+": ({"frequency_num": 3, "min_radius": 0.25 * 180 / math.pi, "max_radius": 180 / math.pi},
                 [0.48358795, -0.87529578, -0.76962248, -0.63849921, 0.46926487, -0.50471819, 0.73887291,
                  -0.60836796, 0.9683222, 0.24970405, 0.90512408, -0.4251475, -0.13387171, -0.33606882,
                  -0.21078538, 0.7154787, 0.61249325, 0.79047582, -0.84414084, -0.53612149, -0.42379107,
                  -0.42379107, -0.66727292, -0.66727292]),
    "theory": ({"frequency_num": 3, "min_radius": 10.0, "max_radius": 360.0},
               [0.31871228, 0.94785151, 0.03279413, -0.99946213, 0.28745689, -0.95779358, -0.89177788,
                -0.45247345, 0.99998506, 0.00546664, 0.45734172, 0.88929104, -0.33353947, 0.94273614,
                0.25793887, 0.96616124, 0.07908461, 0.99686791]),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_position_encoding_matches_the_authors_code(name, cities):
    params, expected = REFERENCE[name]
    encoding = build(name, cities, **params).encoding
    with torch.no_grad():
        got = encoding(torch.tensor([[37.77, -122.42]]))[0]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_spherical_harmonics_match_scipy(cities):
    scipy_special = pytest.importorskip("scipy.special")
    degree = 6
    encoding = build("spherical_harmonics", cities, max_degree=degree).encoding
    points = cities[::997].double()
    with torch.no_grad():
        got = encoding(points.float()).double().numpy()
    colatitude = np.radians(90.0 - points[:, 0].numpy())
    azimuth = np.radians(points[:, 1].numpy())
    expected = []
    for order in range(degree + 1):
        for m in range(-order, order + 1):
            y = scipy_special.sph_harm(abs(m), order, azimuth, colatitude) * (-1) ** abs(m)  # drop Condon-Shortley
            expected.append(y.real if m == 0 else math.sqrt(2) * (y.imag if m < 0 else y.real))
    np.testing.assert_allclose(got, np.stack(expected, 1), atol=1e-5)


def test_siren_option_uses_sine_activations(cities):
    encoder = build("spherical_harmonics", cities, siren=True)
    assert encoder.config()["params"]["activation"] == "sin"
    assert any(isinstance(m, Sine) for m in encoder.mlp)
    with pytest.raises(TrainerError, match="'sin', not 'relu'"):
        build_location_encoder("spherical_harmonics", siren=True, activation="relu")


def test_rbf_centres_come_from_training_locations_and_are_stored(cities):
    train = cities[:2000].numpy()
    encoder = build("rbf", cities, train_locations=train, num_centres=50, kernel_size=5.0)
    centres = np.asarray(encoder.config()["params"]["centres"], dtype=np.float32)
    assert centres.shape == (50, 2)
    assert all((train == row).all(1).any() for row in centres)
    with torch.no_grad():  # a point at a centre gets exp(0) = 1 in that centre's feature
        assert torch.allclose(encoder.encoding(torch.from_numpy(centres)).diagonal(), torch.ones(50), atol=1e-5)


def test_rff_is_deterministic_for_a_seed(cities):
    points = cities[:100]
    with torch.no_grad():
        first = build("rff", cities, seed=3).encoding(points)
        again = build("rff", cities, seed=3).encoding(points)
        other = build("rff", cities, seed=4).encoding(points)
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_config_is_plain_json_even_for_numpy_params():
    encoder = build_location_encoder("sphereM", frequency_num=np.int64(8), min_radius=np.float32(1.0),
                                     hidden_dim=np.int64(8), dropout=np.float64(0.1))
    config = json.loads(json.dumps(encoder.config()))
    assert config["params"]["frequency_num"] == 8 and config["params"]["dropout"] == 0.1
    assert encoder.encoding.dim == 5 * 8


@pytest.mark.parametrize("name", ["theory", "rbf", "rff"])  # the encodings that use matmuls
def test_position_encoding_stays_float32_under_bf16_autocast(name, cities):
    encoder = build(name, cities)
    batch = cities[:256]
    seen = []
    encoder.encoding.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        reference = encoder.encoding(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = encoder(batch)
    assert mixed.dtype == torch.bfloat16  # the MLP follows autocast ...
    assert seen[-1].dtype == torch.float32 and torch.equal(seen[-1], reference)  # ... the angles do not
