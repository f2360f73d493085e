"""Fixtures shared by the plugin tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_factory import export_image_classifier
from qgis.core import QgsApplication

from qgis_csp_plugin.processing.provider import GeoSslProvider


@pytest.fixture(scope="session")
def rgb_model(tmp_path_factory) -> Path:
    """A real exported RGB image classifier (32 px tiles at 30 m, as the Landsat scene)."""
    return export_image_classifier(tmp_path_factory.mktemp("m") / "rgb.onnx", tile_size=32, gsd_m=30.0)


@pytest.fixture()
def provider(qgis_processing):
    """The CSP Processing provider registered for one test."""
    registry = QgsApplication.processingRegistry()
    if registry.providerById("csp") is None:
        registry.addProvider(GeoSslProvider())
    yield
    registry.removeProvider("csp")
