"""The fusion exponent α of a location prior: stored in its metadata (schema v2), α = 1 with a note for
version-1 models, user override, α = 0 outside the training area unless forced; real exported models."""

import numpy as np
import pytest
from model_factory import as_schema_v1, export_location_model

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.prior_exponent import fusion_exponent, stored_exponent
from qgis_csp_plugin.contract.probabilities import fuse
from qgis_csp_plugin.contract.schema import SCHEMA_VERSION, MetadataError, ModelMetadata


@pytest.fixture(scope="module")
def priors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("priors")
    return {"v2": OnnxModel.load(export_location_model(folder / "v2.onnx", prior_exponent=0.25)),
            "v1": OnnxModel.load(as_schema_v1(export_location_model(folder / "v1.onnx")))}


def test_alpha_is_stored_in_the_metadata_of_a_v2_prior(priors):
    meta = priors["v2"].metadata
    assert SCHEMA_VERSION == 3 and meta.schema_version == 3 and meta.prior_exponent == 0.25
    assert stored_exponent(meta).value == 0.25 and stored_exponent(meta).notes == []
    assert "fusion exponent α = 0.25" in priors["v2"].describe()


def test_a_v1_prior_without_alpha_loads_with_alpha_1_and_a_note(priors):
    meta = priors["v1"].metadata
    assert meta.schema_version == 1 and meta.prior_exponent is None
    exponent = stored_exponent(meta)
    assert exponent.value == 1.0
    assert len(exponent.notes) == 1 and "stores no fusion exponent (schema v1)" in exponent.notes[0]
    assert "python -m trainer prior-exponent" in exponent.notes[0]


@pytest.mark.parametrize("changes, message", [
    ({"prior_exponent": -0.5}, "prior_exponent -0.5 must be a finite number >= 0"),
    ({"prior_exponent": float("inf")}, "must be a finite number >= 0"),
    ({"prior_exponent": "half"}, "must be a finite number >= 0"),
    ({"kind": "location_encoder", "embedding_dim": 4, "class_names": []}, "only meaningful for a location_prior"),
    ({"schema_version": 4}, "schema version 4 is not supported (this plugin reads versions 1, 2, 3)"),
])
def test_bad_alpha_or_schema_is_refused(priors, changes, message):
    data = {**priors["v2"].metadata.to_dict(), **changes}
    with pytest.raises(MetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelMetadata.from_dict(data)


def test_classify_rule_outside_training_area_override_and_force(priors):
    meta = priors["v2"].metadata
    outside = fusion_exponent(meta, outside_training_area=True)
    assert outside.value == 0.0 and "outside the training area" in outside.notes[0]
    assert fusion_exponent(meta, override=0.8, outside_training_area=True).value == 0.0
    assert fusion_exponent(meta, outside_training_area=True, forced=True).value == 0.25
    assert fusion_exponent(meta, override=0.8).value == 0.8
    assert fusion_exponent(meta).value == 0.25 and "stored in 'v2'" in fusion_exponent(meta).notes[0]
    assert fusion_exponent(priors["v1"].metadata).value == 1.0
    with pytest.raises(GeoSslError, match="finite number >= 0"):
        fusion_exponent(meta, override=-1.0)


def test_fuse_with_alpha_tempers_the_prior(priors):
    rng = np.random.default_rng(0)
    p_image = rng.dirichlet(np.ones(10), size=50).astype(np.float32)
    latlon = np.stack([rng.uniform(-60, 60, 50), rng.uniform(-180, 180, 50)], axis=1).astype(np.float32)
    p_location = priors["v2"].run(latlon=latlon)
    np.testing.assert_array_equal(fuse(p_image, p_location, 0.0), p_image)
    np.testing.assert_allclose(fuse(p_image, p_location, 1.0), fuse(p_image, p_location), atol=0)
    tempered = p_image * p_location ** 0.5
    np.testing.assert_allclose(fuse(p_image, p_location, 0.5), tempered / tempered.sum(1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match="prior exponent"):
        fuse(p_image, p_location, -0.1)
