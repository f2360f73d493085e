"""Shared test setup: headless Qt, QGIS's bundled ``processing`` importable, real data paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QGIS_PLUGINS = "/usr/share/qgis/python/plugins"
if os.path.isdir(QGIS_PLUGINS) and QGIS_PLUGINS not in sys.path:
    sys.path.append(QGIS_PLUGINS)

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # shared helpers such as model_factory
    sys.path.append(str(TESTS))
REPO = TESTS.parent
DATA = REPO / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def encoder_13(tmp_path_factory) -> Path:
    """A small 13-band ``image_encoder`` (EuroSAT band order, 64 px tiles at 10 m, random weights), exported by
    our exporter: a fast encoder for tests of the training plumbing (``model_factory.export_image_encoder``)."""
    from model_factory import export_image_encoder

    return export_image_encoder(tmp_path_factory.mktemp("encoder") / "encoder_13.onnx")


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests when no CUDA device is present."""
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
