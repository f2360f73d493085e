"""Execution providers: device choice, CPU fallback with a warning, cache keyed by device (real sessions)."""

from __future__ import annotations

import onnxruntime
import pytest
from model_factory import export_image_classifier

from qgis_csp_plugin.contract.execution import (
    CPU,
    Runtime,
    current_runtime,
    fallback_warning,
    requested_provider,
    set_runtime,
)
from qgis_csp_plugin.contract.onnx_model import OnnxModel

AVAILABLE = onnxruntime.get_available_providers()
pytestmark = pytest.mark.skipif("CUDAExecutionProvider" in AVAILABLE, reason="needs the CPU build of onnxruntime")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return export_image_classifier(tmp_path_factory.mktemp("m") / "rgb.onnx")


@pytest.fixture
def runtime():
    saved = current_runtime()
    yield
    set_runtime(saved)


def test_provider_choice():
    gpu_build = ["CUDAExecutionProvider", "DmlExecutionProvider", CPU]
    assert requested_provider("auto", gpu_build) == "CUDAExecutionProvider"
    assert requested_provider("directml", gpu_build) == "DmlExecutionProvider"
    assert requested_provider("auto", [CPU]) is None and requested_provider("cpu", gpu_build) is None
    assert requested_provider("coreml", [CPU]) == "CoreMLExecutionProvider"
    assert fallback_warning("cuda", "CUDAExecutionProvider", "CUDAExecutionProvider", gpu_build) is None
    failed = fallback_warning("auto", "CUDAExecutionProvider", CPU, gpu_build, "libcudnn.so.9: cannot open")
    assert failed == ("device Auto (GPU when available) requested but the CPU is used: "
                      "CUDAExecutionProvider failed to initialise: libcudnn.so.9: cannot open")
    with pytest.raises(ValueError, match="unknown device 'tpu'; choose one of auto, cpu, cuda, directml, coreml"):
        Runtime("tpu")


def test_cuda_requested_on_a_cpu_build_falls_back_with_a_warning(model_path, runtime):
    model = OnnxModel.load(model_path, device="cuda")
    assert model.provider == CPU and model.session.get_providers() == [CPU]
    assert model.provider_warning == (
        "device CUDA (NVIDIA GPU) requested but the CPU is used: this onnxruntime has no CUDAExecutionProvider "
        f"(it offers {', '.join(AVAILABLE)}); install the GPU build of onnxruntime for it")
    # the note names the provider; the fallback is reported once, as the warning (not repeated in the note)
    assert model.runtime_note == f"rgb.onnx runs on onnxruntime {CPU} (device setting: CUDA (NVIDIA GPU))"
    assert "self check ok" in model.self_check()  # the fallback session really runs


def test_settings_drive_load_and_the_cache_is_keyed_by_device(model_path, runtime):
    auto = OnnxModel.load(model_path)  # default: auto -> CPU here, silently
    assert auto.device == "auto" and auto.provider == CPU and auto.provider_warning is None
    set_runtime(Runtime("directml", threads=1))
    dml = OnnxModel.load(model_path)
    assert dml.device == "directml" and dml is not auto and dml is OnnxModel.load(model_path)
    assert "DmlExecutionProvider" in dml.provider_warning
    assert dml.session.get_session_options().intra_op_num_threads == 1
