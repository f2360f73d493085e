"""Every location encoder exports to ONNX (opset 17) and matches torch within 1e-4 under onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import ModelMetadata
from trainer.encoders import available_encoders, build_location_encoder
from trainer.export.onnx_writer import export_onnx
from trainer.export.spec import ExportSpec


@pytest.mark.parametrize("name", available_encoders())
def test_export_matches_torch_and_metadata_rebuilds_the_encoder(name, city_latlon, tmp_path):
    torch.manual_seed(0)
    params = {"train_locations": city_latlon[::50], "num_centres": 128} if name == "rbf" else {}
    encoder = build_location_encoder(name, hidden_dim=64, out_dim=32, **params).eval()
    meta = ModelMetadata(kind="location_encoder", name=f"enc-{name}", location_encoder=encoder.config(),
                         embedding_dim=encoder.out_dim)
    path = tmp_path / "encoder.onnx"
    report = export_onnx(ExportSpec(encoder, (torch.zeros(2, 2),), ("latlon",), "embedding", meta), path)
    assert report.max_abs_diff <= 1e-4

    # real places plus the edges: dateline, poles
    edges = np.array([[0, 180], [0, -180], [90, 0], [-90, 45], [89.99, -179.99]], dtype=np.float32)
    batch = np.concatenate([city_latlon[::40], edges])
    model = OnnxModel.load(path)
    got = model.run(latlon=batch)
    with torch.no_grad():
        expected = encoder(torch.from_numpy(batch)).numpy()
    assert got.shape == (len(batch), 32)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)

    config = model.metadata.location_encoder
    rebuilt = build_location_encoder(config["name"], **config["params"]).eval()
    rebuilt.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(torch.from_numpy(batch)), torch.from_numpy(expected))
