"""The radiometry Classify applies is the contract's :func:`layer_radiometry` of the pixels it samples: code
without QGIS (the trainer's evaluations) reproduces it exactly from a GDAL read of the same block."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsRasterLayer

from qgis_csp_plugin.contract.radiometry import layer_radiometry, sample_shape
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("scene", ["LC08_L1TP_224078_20200518_RGB.tif", "RGB.byte.tif"])
def test_classify_applies_the_contract_radiometry_of_its_sample(scene, qgis_app):
    path = REPO / "data" / "scenes" / scene
    layer = QgsRasterLayer(str(path), scene)
    job = prepare(ClassifyRequest(layer, REPO / "models" / "eurosat_rgb.onnx", {}))
    norm = job.model.metadata.normalization
    assert norm.radiometry == "layer_percentiles"  # the shipped RGB model: matched, not raw
    width, height = sample_shape(layer.extent().width(), layer.extent().height())
    dataset = gdal.Open(str(path))
    pixels = dataset.ReadAsArray(buf_xsize=width, buf_ysize=height,
                                 resample_alg=gdal.GRIORA_NearestNeighbour).astype(np.float32)
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    values = pixels[:, (pixels != nodata).all(axis=0)] if nodata is not None else pixels.reshape(len(pixels), -1)
    expected = layer_radiometry(values, norm).transform
    assert np.array_equal(job.classifier.transform.scale, expected.scale)
    assert np.array_equal(job.classifier.transform.offset, expected.offset)
