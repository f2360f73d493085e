"""Settings > Options > CSP and the message-bar offer, in a real headless QGIS."""

from __future__ import annotations

import pytest
from model_factory import export_image_classifier
from qgis.core import QgsApplication, QgsProcessingFeedback, QgsSettings
from qgis.PyQt.QtWidgets import QPushButton

import qgis_csp_plugin
import qgis_csp_plugin.plugin as plugin_module
from qgis_csp_plugin.contract.execution import Runtime, current_runtime, set_runtime
from qgis_csp_plugin.processing.provider import GeoSslProvider
from qgis_csp_plugin.qgis_io.settings import DEVICE_KEY, THREADS_KEY, load_runtime
from qgis_csp_plugin.ui.options_page import GeoSslOptionsFactory, GeoSslOptionsPage

pytestmark = pytest.mark.qgis
LANDSAT = "data/scenes/LC08_L1TP_224078_20200518_RGB.tif"


@pytest.fixture
def clean_settings():
    saved = current_runtime()
    settings = QgsSettings()
    settings.remove(DEVICE_KEY)
    settings.remove(THREADS_KEY)
    yield settings
    settings.remove(DEVICE_KEY)
    settings.remove(THREADS_KEY)
    set_runtime(saved)


def test_page_shows_status_and_saves_device_and_threads(qgis_app, clean_settings):
    page = GeoSslOptionsPage()
    assert page.status.text().startswith("onnxruntime ") and page.status.text().endswith(" is installed.")
    assert page.device.currentData() == "auto" and page.threads.value() == 0
    devices = [page.device.itemData(i) for i in range(page.device.count())]
    assert devices == ["auto", "cpu", "cuda", "directml", "coreml"]
    page.device.setCurrentIndex(page.device.findData("cuda"))
    page.threads.setValue(2)
    page.apply()
    assert clean_settings.value(DEVICE_KEY) == "cuda" and int(clean_settings.value(THREADS_KEY)) == 2
    assert load_runtime() == current_runtime() == Runtime("cuda", 2)
    assert GeoSslOptionsPage().device.currentData() == "cuda"  # remembered by the next page
    clean_settings.setValue(DEVICE_KEY, "tpu")  # a broken setting falls back to the defaults
    assert load_runtime() == Runtime()


def test_processing_uses_the_setting_and_logs_the_provider(qgis_processing, clean_settings, tmp_path):
    """Device CUDA on a CPU-only onnxruntime: the run works on the CPU and says so in its log."""
    import processing

    model = export_image_classifier(tmp_path / "rgb.onnx", tile_size=32, gsd_m=30.0)
    clean_settings.setValue(DEVICE_KEY, "cuda")
    registry = QgsApplication.processingRegistry()
    registry.addProvider(GeoSslProvider())
    feedback = _Recorder()
    try:
        processing.run("csp:classify", {"INPUT": LANDSAT, "MODEL": str(model), "MAX_TILES": 100_000,
                                        "RESOLUTION": 960, "OUTPUT_VECTOR": str(tmp_path / "t.gpkg")},
                       feedback=feedback)
    finally:
        registry.removeProvider("csp")
    assert any("rgb.onnx runs on onnxruntime CPUExecutionProvider (device setting: CUDA (NVIDIA GPU))" in line
               for line in feedback.infos)
    assert any(w.startswith("device CUDA (NVIDIA GPU) requested but the CPU is used") for w in feedback.warnings)
    clean_settings.setValue(DEVICE_KEY, "cpu")  # the heatmaps read the setting too
    registry.addProvider(GeoSslProvider())
    try:
        processing.run("csp:location_embedding_heatmap", {"WIDTH": 32, "HEIGHT": 16, "OUTPUT": str(tmp_path / "e.tif")},
                       feedback=feedback)
    finally:
        registry.removeProvider("csp")
    note = "csp_location_encoder.onnx runs on onnxruntime CPUExecutionProvider (device setting: CPU)"
    assert any(line.startswith(note) for line in feedback.infos)


class _Recorder(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 (QGIS API name)
        self.infos.append(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.warnings.append(warning)


def test_plugin_registers_the_page_and_offers_the_install(qgis_iface, qgis_app, monkeypatch):
    plugin = qgis_csp_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        factory = qgis_iface.registerOptionsWidgetFactory.call_args.args[0]
        assert isinstance(factory, GeoSslOptionsFactory) and factory.title() == "CSP"
        assert isinstance(factory.createWidget(None), GeoSslOptionsPage)
        assert plugin.check_onnxruntime()  # installed here: no offer
        monkeypatch.setattr(plugin_module, "onnxruntime_version", lambda: "1.10.0")  # as if QGIS had an old one
        assert not plugin.check_onnxruntime()
        item = qgis_iface.messageBar().currentItem()
        assert "needs onnxruntime >= 1.17, QGIS's Python has 1.10.0" in item.text()
        assert [b.text() for b in item.findChildren(QPushButton, "csp_install_onnxruntime")] == ["Install onnxruntime"]
    finally:
        plugin.unload()
    assert qgis_iface.unregisterOptionsWidgetFactory.call_args.args[0] is factory  # the mock iface is shared
