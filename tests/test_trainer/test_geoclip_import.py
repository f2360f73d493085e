"""``python -m trainer import geoclip`` on the installed ``geoclip`` wheel, and the imported model in QGIS.

The reference is GeoCLIP's own ``LocationEncoder`` (its code and released weights, loaded from the
package); the heatmap is the plugin's Processing algorithm in a real headless QGIS.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from osgeo import gdal

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.pca import PcaColours
from trainer.cli import main as trainer_main
from trainer.pretrained.geoclip_import import PARITY_BOUND, embed, parity_points
from trainer.pretrained.geoclip_release import find_release, reference_encoder

needs_geoclip = pytest.mark.skipif(importlib.util.find_spec("geoclip") is None,
                                   reason="the geoclip package (test extra, installed --no-deps) is missing")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("geoclip") / "geoclip_location_encoder.onnx"
    assert trainer_main(["import", "geoclip", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def reference():
    return reference_encoder(find_release())


@needs_geoclip
def test_import_writes_a_self_describing_encoder(imported):
    model = OnnxModel.load(imported)
    meta = model.metadata
    assert meta.kind == "location_encoder" and meta.embedding_dim == 512 and meta.coordinate_order == "lat,lon"
    assert meta.location_encoder["name"] == "geoclip" and meta.pca_basis is not None
    assert meta.training["source"]["package"] == "geoclip==1.3.0" and meta.training["licence"].startswith("MIT")
    parity = meta.training["parity_vs_geoclip"]
    assert parity["points"] == 10_000 and parity["torch_max_abs_diff"] <= PARITY_BOUND
    assert parity["onnxruntime_max_abs_diff"] <= PARITY_BOUND
    assert not list(imported.parent.glob("*.part"))


@needs_geoclip
def test_onnx_matches_geoclips_own_encoder_at_dateline_poles_and_cities(imported, reference, city_latlon):
    points = np.concatenate([parity_points(1_500, seed=7), city_latlon[::50]])
    got = OnnxModel.load(imported).run(latlon=points)
    expected = embed(reference, points)
    assert np.abs(got - expected).max() <= PARITY_BOUND
    east, west = OnnxModel.load(imported).run(latlon=np.array([[0, 180], [0, -180]], np.float32))
    assert np.abs(east - west).max() > 1e-3  # GeoCLIP is not periodic at the dateline, nor are we


def test_missing_package_is_one_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "geoclip", None)  # what importlib reports for an uninstalled package
    out = tmp_path / "g.onnx"
    assert trainer_main(["import", "geoclip", "--out", str(out)]) == 2
    assert "pip install --no-deps geoclip==1.3.0" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


@needs_geoclip
@pytest.mark.qgis
def test_plugin_embedding_heatmap_renders_geoclip(imported, reference, qgis_processing, tmp_path):
    import processing
    from qgis.core import QgsApplication

    from qgis_csp_plugin.processing.provider import GeoSslProvider

    provider = GeoSslProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    try:
        out = processing.run("csp:location_embedding_heatmap", {
            "MODEL": str(imported), "CRS": "EPSG:4326", "CELL_SIZE": 10.0, "OUTPUT": str(tmp_path / "g.tif")})["OUTPUT"]
    finally:
        QgsApplication.processingRegistry().removeProvider(provider)
    array = gdal.Open(out).ReadAsArray()
    assert array.shape == (3, 18, 36) and array.min() >= 1
    lat, lon = np.meshgrid(np.arange(85, -90, -10.0), np.arange(-175, 180, 10.0), indexing="ij")
    centres = np.stack([lat.ravel(), lon.ravel()], axis=1).astype(np.float32)
    with torch.no_grad():
        colours = PcaColours(OnnxModel.load(imported).metadata.pca_basis)(embed(reference, centres))
    expected = colours.T.reshape(3, 18, 36).astype(int)
    assert np.abs(array.astype(int) - expected).max() <= 1  # GeoCLIP's own embedding, through the stored PCA


@needs_geoclip
@pytest.mark.parametrize("freeze", [True, False])
def test_prior_from_geoclip_trains_and_exports(freeze, reference, tmp_path, data_dir):
    import lightning as L
    import pandas as pd
    from torch.utils.data import DataLoader

    from trainer.data.points import point_tensors
    from trainer.export.onnx_writer import export_onnx
    from trainer.tasks.location_classifier import LocationClassifierTask

    cities = pd.read_csv(data_dir / "points" / "cities15000.csv.gz", usecols=["lat", "lon", "continent"],
                         keep_default_na=False)[::100]
    frame = cities.assign(label=pd.factorize(cities["continent"], sort=True)[0])
    names = sorted(cities["continent"].unique())
    task = LocationClassifierTask(names, pretrained_encoder="geoclip", freeze_encoder=freeze, lr=1e-3,
                                  standardise_embedding=True)
    assert task.hparams.initialised_from == "geoclip==1.3.0" and task.hparams.location_encoder == "geoclip"
    before = {k: v.clone() for k, v in task.encoder.state_dict().items()}
    L.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).fit(task, DataLoader(point_tensors(frame), batch_size=64, shuffle=True))
    weights = [k for k in before if k.endswith("weight")]
    changed = [not torch.equal(before[k], task.encoder.state_dict()[k]) for k in weights]
    assert (not any(changed)) if freeze else all(changed)
    if freeze:  # the frozen encoder is GeoCLIP's; the prior exports with it inside
        points = parity_points(1_200, seed=3)
        with torch.no_grad():
            ours = task.encoder.eval()(torch.from_numpy(points)).numpy()
        assert np.abs(ours - embed(reference, points)).max() <= 1e-4
        out = tmp_path / "prior.onnx"
        report = export_onnx(task.export_spec("location_prior"), out)
        model = OnnxModel.load(out)
        assert report.ok and model.metadata.kind == "location_prior" and model.metadata.class_names == names
        assert model.metadata.location_encoder["name"] == "geoclip"
        np.testing.assert_allclose(model.run(latlon=points), task.predict_proba(torch.from_numpy(points)).numpy(),
                                   atol=task.encoder.export_atol)
