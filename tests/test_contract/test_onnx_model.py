"""The plugin-side loader rejects broken or foreign ONNX files with a clear ModelLoadError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from model_factory import TinyLocationNet, export_image_classifier, export_location_model

from qgis_csp_plugin.contract.errors import ModelLoadError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import SCHEMA_MARKER, ModelMetadata
from trainer.export.onnx_writer import export_onnx
from trainer.export.spec import ExportSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image_model(tmp_path_factory) -> Path:
    return export_image_classifier(tmp_path_factory.mktemp("models") / "rgb.onnx")


def load_error(path: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        OnnxModel.load(path)
    return str(info.value)


def edited(source: Path, target: Path, edit) -> Path:
    """A copy of ``source`` with ``edit(model_proto)`` applied."""
    proto = onnx.load(str(source))
    edit(proto)
    onnx.save(proto, str(target))
    return target


def test_valid_model_loads_describes_and_self_checks(image_model):
    model = OnnxModel.load(image_model)
    assert model.metadata.kind == "image_classifier" and model.input_names == ["image"]
    text = model.describe()
    assert text.startswith(model.metadata.describe())
    assert "input image: float32 (batch, 3, 32, 32)" in text and "output probabilities: float32 (batch, 10)" in text
    assert "export: precision=float32" in text and f"file: {image_model} (" in text
    assert model.self_check(batch=4).startswith("self check ok: 4 random inputs -> finite probabilities (4, 10)")


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "absent.onnx") == f"model file not found: {tmp_path / 'absent.onnx'}"


def test_corrupt_file_of_random_bytes(tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(20_000))
    message = load_error(corrupt)
    assert message.startswith("corrupt.onnx is not a readable ONNX model (corrupt, truncated or not ONNX)")
    assert "\n" not in message


def test_truncated_model(image_model, tmp_path):
    data = image_model.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    assert load_error(truncated).startswith("truncated.onnx is not a readable ONNX model")


def test_plain_torch_export_without_our_metadata(tmp_path):
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(TinyLocationNet(4, softmax=True), (torch.zeros(2, 2),), str(plain), input_names=["latlon"],
                      output_names=["probabilities"], dynamo=False)
    message = load_error(plain)
    assert message.startswith("plain.onnx: this ONNX file has no 'geossl_schema_version' metadata")
    assert "python -m trainer export" in message


def test_wrong_schema_version(image_model, tmp_path):
    def bump(proto):
        for prop in proto.metadata_props:
            if prop.key == SCHEMA_MARKER:
                prop.value = "99"

    message = load_error(edited(image_model, tmp_path / "future.onnx", bump))
    assert ("future.onnx: model metadata schema version 99 is not supported (this plugin reads versions 1, 2, 3)"
            in message)


def test_invalid_metadata_value(image_model, tmp_path):
    def drop_classes(proto):
        for prop in proto.metadata_props:
            if prop.key == "class_names":
                prop.value = json.dumps(["only-one"])

    message = load_error(edited(image_model, tmp_path / "oneclass.onnx", drop_classes))
    assert message == "oneclass.onnx: invalid model metadata: a image_classifier model needs at least two class_names"


def test_wrong_input_and_output_names(image_model, tmp_path):
    def rename(proto, old: str, new: str):
        for value in (*proto.graph.input, *proto.graph.output):
            if value.name == old:
                value.name = new
        for node in proto.graph.node:
            node.input[:] = [new if n == old else n for n in node.input]
            node.output[:] = [new if n == old else n for n in node.output]

    message = load_error(edited(image_model, tmp_path / "pixels.onnx", lambda p: rename(p, "image", "pixels")))
    assert message == ("pixels.onnx: a image_classifier model must have inputs ['image'] and output 'probabilities', "
                       "found inputs ['pixels'] and outputs ['probabilities']")
    message = load_error(edited(image_model, tmp_path / "logits.onnx", lambda p: rename(p, "probabilities", "logits")))
    assert "found inputs ['image'] and outputs ['logits']" in message


def test_foreign_non_json_metadata_keys_are_ignored(tmp_path):
    path = export_location_model(tmp_path / "encoder.onnx", kind="location_encoder")
    tagged = edited(path, tmp_path / "tagged.onnx",
                    lambda p: p.metadata_props.add(key="onnx.infer", value="onnxruntime.quant"))
    model = OnnxModel.load(tagged)
    assert model.metadata == OnnxModel.load(path).metadata and model.metadata.embedding_dim == 16


def test_self_check_catches_probabilities_that_do_not_sum_to_one(tmp_path):
    """A 'location_prior' whose graph forgot its softmax fails the self check that loading runs."""
    meta = ModelMetadata(kind="location_prior", name="no softmax", class_names=["a", "b", "c"],
                         location_encoder={"name": "xyz", "params": {}})
    path = tmp_path / "nosoftmax.onnx"
    torch.manual_seed(0)
    export_onnx(ExportSpec(TinyLocationNet(3, softmax=False), (torch.zeros(2, 2),), ("latlon",),
                           "probabilities", meta), path)
    with pytest.raises(ModelLoadError, match="nosoftmax.onnx: self check probabilities do not sum to 1"):
        OnnxModel.load(path).self_check()


@pytest.mark.parametrize("system", ["Linux", "Windows", "Darwin"])
def test_missing_onnxruntime_gives_install_hint(image_model, system):
    """Real import path with onnxruntime made unimportable (``sys.modules`` entry set to None)."""
    code = f"""
import platform, sys
sys.modules["onnxruntime"] = None
platform.system = lambda: {system!r}
from qgis_csp_plugin.contract.errors import MissingDependencyError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
try:
    OnnxModel.load(sys.argv[1])
except MissingDependencyError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", code, str(image_model)], cwd=REPO, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert message.startswith("The CSP plugin needs onnxruntime, which is not installed in QGIS's Python. "
                              "Click 'Install onnxruntime' in the message bar or in Settings > Options > CSP")
    assert message.endswith("then restart QGIS.")
    hint = {"Linux": "python3 -m pip install --user 'onnxruntime'", "Windows": '"OSGeo4W Shell"',
            "Darwin": "/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install --user onnxruntime"}[system]
    assert hint in message
