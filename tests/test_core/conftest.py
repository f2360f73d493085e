"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest
from model_factory import export_location_model

from qgis_csp_plugin.contract.onnx_model import OnnxModel


@pytest.fixture(scope="session")
def prior(tmp_path_factory) -> OnnxModel:
    """A real exported softmax location prior."""
    return OnnxModel.load(export_location_model(tmp_path_factory.mktemp("m") / "prior.onnx", "location_prior"))
