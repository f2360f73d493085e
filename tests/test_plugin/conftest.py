"""Fixtures shared by the plugin tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from model_factory import export_image_classifier
from qgis.core import QgsApplication

from qgis_csp_plugin.processing.provider import GeoSslProvider


@pytest.fixture(scope="session")
def rgb_model(tmp_path_factory) -> Path:
    """A real exported RGB image classifier (32 px tiles at 30 m, as the Landsat scene)."""
    return export_image_classifier(tmp_path_factory.mktemp("m") / "rgb.onnx", tile_size=32, gsd_m=30.0)


@contextmanager
def registered_provider() -> Iterator[None]:
    """The CSP Processing provider registered while the block runs (left alone if it was registered already)."""
    registry = QgsApplication.processingRegistry()
    added = registry.providerById("csp") is None
    if added:
        registry.addProvider(GeoSslProvider())
    try:
        yield
    finally:
        if added:
            registry.removeProvider("csp")


@pytest.fixture()
def provider(qgis_processing):
    """The CSP Processing provider registered for one test."""
    with registered_provider():
        yield


@pytest.fixture(scope="module")
def run(qgis_processing):
    """``run(name, params)``: ``processing.run("csp:<name>", params)`` with the provider registered for the module."""
    import processing

    with registered_provider():
        yield lambda name, params: processing.run(f"csp:{name}", params)
