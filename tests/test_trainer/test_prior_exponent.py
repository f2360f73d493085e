"""`python -m trainer prior-exponent`: α chosen on the EuroSAT validation split with the default models
(real ONNX files, real patches) and stored in the prior; a version-1 prior is upgraded to version 2."""

import shutil
from pathlib import Path

import numpy as np
from model_factory import as_schema_v1

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.cli import main

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_alpha_is_chosen_on_validation_data_and_stored(tmp_path, capsys):
    prior_path = as_schema_v1(shutil.copy(MODELS / "eurosat_prior.onnx", tmp_path / "prior.onnx"))
    before = OnnxModel.load(prior_path)
    assert before.metadata.schema_version == 1 and before.metadata.prior_exponent is None
    latlon = np.array([[48.85, 2.35], [52.5, 13.4], [-25.3, -54.5]], np.float32)
    expected = before.run(latlon=latlon)
    candidates = ["0", "0.5", "1"]
    assert main(["prior-exponent", "--prior", str(prior_path), "--image_model", str(MODELS / "eurosat_rgb.onnx"),
                 "--candidates", *candidates]) == 0
    after = OnnxModel.load(prior_path)
    meta, selection = after.metadata, after.metadata.training["prior_exponent_selection"]
    assert meta.schema_version == 3 and meta.prior_exponent in (0.0, 0.5, 1.0)
    assert selection["n_val"] == 40 and "validation split of eurosat" in selection["data"]
    nll = selection["val_nll"]
    assert meta.prior_exponent == float(min(nll, key=lambda a: (nll[a], float(a))))
    assert meta.class_names == before.metadata.class_names
    assert meta.training["latlon_bounds"] == before.metadata.training["latlon_bounds"]
    assert after.export_report == before.export_report and after.export_report["parity_bound"] == 1e-4
    np.testing.assert_array_equal(after.run(latlon=latlon), expected)  # weights untouched
    assert f"α = {meta.prior_exponent:g} chosen on 40 validation records" in capsys.readouterr().out


def test_priors_over_other_classes_are_refused_and_left_untouched(tmp_path, capsys):
    prior_path = shutil.copy(MODELS / "world_continent_prior.onnx", tmp_path / "world.onnx")
    before = Path(prior_path).read_bytes()
    assert main(["prior-exponent", "--prior", str(prior_path), "--image_model",
                 str(MODELS / "eurosat_rgb.onnx")]) == 2
    assert "predict different classes" in capsys.readouterr().err
    assert Path(prior_path).read_bytes() == before
