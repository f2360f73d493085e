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
from qgis_csp_plugin.qgis_io.provider_reader import band_labels

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("scene", ["LC08_L1TP_224078_20200518_RGB.tif", "RGB.byte.tif"])
def test_classify_applies_the_contract_radiometry_of_its_sample(scene, qgis_app):
    """The shipped RGB classifier (a Galileo head: ``reflectance``, 7 of its 10 bands masked): the Landsat 8
    Level-1 rule for the first scene, the 8-bit match to the training statistics for the second."""
    path = REPO / "data" / "scenes" / scene
    layer = QgsRasterLayer(str(path), scene)
    job = prepare(ClassifyRequest(layer, REPO / "models" / "eurosat_rgb.onnx", {}))
    meta = job.model.metadata
    assert meta.normalization.radiometry == "reflectance"
    width, height = sample_shape(layer.extent().width(), layer.extent().height())
    dataset = gdal.Open(str(path))
    rgb = dataset.ReadAsArray(buf_xsize=width, buf_ysize=height,
                              resample_alg=gdal.GRIORA_NearestNeighbour).astype(np.float32)
    pixels = np.zeros((len(meta.bands), height, width), np.float32)  # masked bands read as 0, as in Classify
    for band, layer_band in (("B04", 0), ("B03", 1), ("B02", 2)):  # red, green, blue
        pixels[meta.bands.index(band)] = rgb[layer_band]
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    valid = (rgb != nodata).all(axis=0) if nodata is not None else np.ones((height, width), bool)
    used = job.classifier.band_mask == 0
    assert sorted(np.array(meta.bands)[used]) == ["B02", "B03", "B04"]
    kind = "byte" if dataset.GetRasterBand(1).DataType == gdal.GDT_Byte else "int"
    expected = layer_radiometry(pixels[:, valid], meta.normalization, used, kind, scene, band_labels(layer))
    assert (job.classifier.transform is None) == (expected.transform is None)
    assert np.array_equal(job.classifier.transform.scale, expected.transform.scale)
    assert np.array_equal(job.classifier.transform.offset, expected.transform.offset)
