"""The kNN location prior: its ONNX graph (written without the onnx package) against the numpy reference,
on the sphere's awkward places (dateline, poles), ties, points far from every training point, and the
choice of bandwidth, flat count and mixture weight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.knn_prior import (
    ENCODER_NAME,
    KnnPrior,
    hybrid_prior_model,
    knn_prior_model,
    per_class_subsample,
    recipe_of_mix,
    select_knn_prior,
    select_mix,
    unit_vectors,
)
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import ModelMetadata

REPO = Path(__file__).resolve().parents[2]
ENCODER = REPO / "models" / "csp_location_encoder.onnx"


def write(prior: KnnPrior, path: Path, classes: list[str] | None = None) -> OnnxModel:
    """``prior`` as a location_prior ONNX file, checked by onnx.checker and opened like any model."""
    names = classes or [f"c{i}" for i in range(prior.n_classes)]
    meta = ModelMetadata.from_dict({"kind": "location_prior", "name": "kNN test prior", "class_names": names,
                                    "location_encoder": {"name": ENCODER_NAME, "params": prior.params()}})
    data = knn_prior_model(prior, meta.to_props(), meta.describe())
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    path.write_bytes(data)
    return OnnxModel.load(path)


def globe(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)], axis=1)


def test_the_graph_computes_the_numpy_reference(tmp_path):
    points = globe(500)
    labels = (points[:, 1] > 0).astype(int) + 2 * (points[:, 0] > 0)
    prior = KnnPrior(points, labels, 4, k=10, sharpness=3.0, bandwidth_deg=5.0, flat_count=0.1)
    model = write(prior, tmp_path / "knn.onnx")
    query = globe(300, seed=1).astype(np.float32)
    got = model.run(latlon=query)
    np.testing.assert_allclose(got, prior.probabilities(query), atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    assert (got.argmax(axis=1) == (query[:, 1] > 0) + 2 * (query[:, 0] > 0)).mean() > 0.9
    assert model.metadata.location_encoder["params"]["points"] == 500


def test_across_the_dateline_neighbours_are_near(tmp_path):
    points = np.array([[10.0, 179.9], [10.0, 0.0]])
    prior = KnnPrior(points, np.array([0, 1]), 2, k=2, sharpness=3.0, bandwidth_deg=1.0, flat_count=0.01)
    model = write(prior, tmp_path / "d.onnx")
    east, west = model.run(latlon=np.array([[10.0, 179.95], [10.0, -179.95]], np.float32))
    assert west[0] > 0.99  # 0.15° from the point at 179.9°E, across the seam
    np.testing.assert_allclose(model.run(latlon=np.array([[10.0, 180.0], [10.0, -180.0]], np.float32))[0],
                               model.run(latlon=np.array([[10.0, -180.0]], np.float32))[0], atol=1e-6)
    assert east[0] > 0.99


def test_every_longitude_at_a_pole_is_the_same_place(tmp_path):
    points = np.array([[89.99, 0.0], [-89.99, 0.0], [0.0, 90.0]])
    prior = KnnPrior(points, np.array([0, 1, 2]), 3, k=1, sharpness=3.0, bandwidth_deg=0.5, flat_count=0.01)
    model = write(prior, tmp_path / "p.onnx")
    lons = np.linspace(-180, 180, 13)
    north = model.run(latlon=np.stack([np.full(13, 90.0), lons], 1).astype(np.float32))
    south = model.run(latlon=np.stack([np.full(13, -90.0), lons], 1).astype(np.float32))
    np.testing.assert_allclose(north, np.repeat(north[:1], 13, axis=0), atol=1e-6)
    assert north[:, 0].min() > 0.99 and south[:, 1].min() > 0.99
    # (89.99, 0) and (89.99, 180) are 0.02° apart over the pole
    assert model.run(latlon=np.array([[89.99, 180.0]], np.float32))[0, 0] > 0.99


def test_ties_give_equal_probabilities_or_go_to_the_first_point(tmp_path):
    points = np.array([[0.0, -1.0], [0.0, 1.0], [30.0, 30.0], [30.0, 30.0]])
    labels = np.array([0, 1, 0, 2])
    query = np.array([[0.0, 0.0], [30.0, 30.0]], np.float32)
    both = write(KnnPrior(points, labels, 3, k=2, sharpness=3.0, bandwidth_deg=1.0, flat_count=0.1),
                 tmp_path / "t2.onnx")
    between, same_place = both.run(latlon=query)
    assert between[0] == pytest.approx(between[1], abs=1e-7) and between[0] > between[2]
    assert same_place[0] == pytest.approx(same_place[2], abs=1e-7) and same_place[0] > 0.45  # one point of each
    prior = KnnPrior(points, labels, 3, k=1, sharpness=3.0, bandwidth_deg=1.0, flat_count=0.1)
    first = write(prior, tmp_path / "t1.onnx").run(latlon=query)
    assert first.argmax(axis=1).tolist() == [0, 0]  # one voter: the tie goes to the lower point index
    np.testing.assert_allclose(first, prior.probabilities(query), atol=1e-6)  # in numpy as in onnxruntime


def test_far_from_every_point_the_prior_is_flat(tmp_path):
    points = globe(200) * np.array([0.1, 0.1]) + np.array([45.0, 10.0])  # a patch around (45N, 10E)
    labels = np.arange(200) // 40
    prior = KnnPrior(points, labels, 5, k=20, sharpness=3.0, bandwidth_deg=0.2, flat_count=1.0)
    model = write(prior, tmp_path / "f.onnx")
    far = model.run(latlon=np.array([[-45.0, -170.0], [0.0, 100.0], [-90.0, 0.0]], np.float32))
    np.testing.assert_allclose(far, 0.2, atol=1e-7)
    near = model.run(latlon=points[:1].astype(np.float32))[0]
    assert near.max() > 0.3  # next to the points the vote dominates


def test_k_sharpness_bandwidth_and_flat_count_are_chosen_on_validation():
    rng = np.random.default_rng(0)
    centres = globe(40, seed=3)
    labels = np.arange(40) % 4
    train = np.repeat(centres, 20, axis=0) + rng.normal(0, 0.3, (800, 2))
    val = np.repeat(centres, 5, axis=0) + rng.normal(0, 0.3, (200, 2))
    train[:, 0], val[:, 0] = train[:, 0].clip(-90, 90), val[:, 0].clip(-90, 90)
    train[:, 1], val[:, 1] = (train[:, 1] + 180) % 360 - 180, (val[:, 1] + 180) % 360 - 180
    prior, selection = select_knn_prior(train, np.repeat(labels, 20), 4, val, np.repeat(labels, 5))
    assert selection["data"] == "validation" and (prior.k, prior.bandwidth_deg) == (selection["k"],
                                                                                 selection["bandwidth_deg"])
    by_bandwidth = selection["log_loss_by_bandwidth_deg"]
    lowest = min(by_bandwidth.values())
    assert lowest == min(selection["log_loss_by_k"].values()) == min(selection["log_loss_by_sharpness"].values())
    # the most local of the settings as good as the best: the smallest bandwidth within the tolerance
    assert selection["log_loss"] <= lowest + 1e-3
    assert all(loss > lowest + 1e-3 for h, loss in by_bandwidth.items() if float(h) < prior.bandwidth_deg)
    assert (prior.probabilities(val).argmax(axis=1) == np.repeat(labels, 5)).mean() > 0.95
    _, by_point = select_knn_prior(train, np.repeat(labels, 20), 4)
    _, by_cluster = select_knn_prior(train, np.repeat(labels, 20), 4, groups=np.repeat(np.arange(40), 20))
    assert by_point["data"].startswith("leave-one-group-out") and by_point["log_loss"] < 0.1
    # whole clusters held out: the other clusters' classes are unrelated, so the best is (nearly) flat
    assert by_cluster["log_loss"] > 0.95 * np.log(4)


def test_size_is_bounded_per_class():
    labels = np.r_[np.zeros(900, int), np.ones(90, int), np.full(10, 2)]
    keep = per_class_subsample(labels, max_points=100, seed=0)
    assert len(keep) <= 102 and set(np.bincount(labels[keep])) == {90, 9, 1}
    prior, selection = select_knn_prior(globe(1000), labels, 3, globe(50, 1), labels[:50], max_points=100)
    assert len(prior.labels) == selection["points"] < 110 and selection["subsampled_from"] == 1000


def test_mixture_weight_and_recipe():
    labels = np.array([0, 1, 0, 1])
    good, bad = np.eye(2)[labels] * 0.9 + 0.05, np.eye(2)[1 - labels] * 0.9 + 0.05
    assert select_mix(good, bad, labels)[0] == 1.0 and select_mix(bad, good, labels)[0] == 0.0
    assert [recipe_of_mix(m) for m in (0.0, 0.4, 1.0)] == ["learned", "hybrid", "knn"]


def test_bad_inputs_are_refused():
    with pytest.raises(GeoSslError, match="latitude"):
        KnnPrior(np.array([[95.0, 0.0]]), np.array([0]), 2, 1, 0.0, 1.0, 1.0)
    with pytest.raises(GeoSslError, match="labels"):
        KnnPrior(np.array([[0.0, 0.0]]), np.array([3]), 2, 1, 0.0, 1.0, 1.0)
    with pytest.raises(GeoSslError, match="positive"):
        KnnPrior(np.array([[0.0, 0.0]]), np.array([1]), 2, 1, 0.0, 0.0, 1.0)
    with pytest.raises(GeoSslError, match="positive"):
        KnnPrior(np.array([[0.0, 0.0]]), np.array([1]), 2, 0, 0.0, 1.0, 1.0)
    prior = KnnPrior(np.array([[0.0, 0.0]]), np.array([1]), 2, 1, 0.0, 1.0, 1.0)
    with pytest.raises(GeoSslError, match="not finite"):
        prior.probabilities(np.array([[np.nan, 0.0]]))


def test_unit_vectors_are_on_the_sphere():
    u = unit_vectors(np.array([[0.0, 0.0], [90.0, 123.0], [0.0, 180.0], [0.0, -180.0]]))
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0)
    np.testing.assert_allclose(u[2], u[3], atol=1e-12)


@pytest.mark.skipif(not ENCODER.is_file(), reason="no default location encoder in models/")
def test_a_hybrid_mixes_an_encoder_and_head_with_the_knn_vote(tmp_path):
    encoder = OnnxModel.load(ENCODER)
    points = globe(300)
    labels = (points[:, 0] > 0).astype(int)
    prior = KnnPrior(points, labels, 2, k=5, sharpness=3.0, bandwidth_deg=3.0, flat_count=0.5)
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(0, 0.1, (encoder.metadata.embedding_dim, 2)), np.array([0.2, -0.2])
    meta = ModelMetadata.from_dict({"kind": "location_prior", "name": "hybrid", "class_names": ["s", "n"],
                                    "location_encoder": {"name": "x", "params": {}}})
    data = hybrid_prior_model(ENCODER.read_bytes(), "embedding", prior, 0.3, meta.to_props(), head=(weight, bias))
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    (tmp_path / "h.onnx").write_bytes(data)
    model = OnnxModel.load(tmp_path / "h.onnx")
    query = globe(50, seed=2).astype(np.float32)
    logits = encoder.run(latlon=query) @ weight + bias
    learned = np.exp(logits - logits.max(axis=1, keepdims=True))
    learned /= learned.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.run(latlon=query), 0.3 * prior.probabilities(query) + 0.7 * learned, atol=1e-5)
    with pytest.raises(GeoSslError, match="strictly between"):
        hybrid_prior_model(ENCODER.read_bytes(), "embedding", prior, 1.0, {})
    with pytest.raises(GeoSslError, match="single output"):
        hybrid_prior_model(ENCODER.read_bytes(), "other", prior, 0.5, {})
