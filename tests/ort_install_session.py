"""One QGIS session for tests/test_plugin/test_ort_install.py, run by Debian's QGIS Python (no onnxruntime).

    QGIS_CUSTOM_CONFIG_PATH=<profile root> python3 ort_install_session.py install <out dir>
    QGIS_CUSTOM_CONFIG_PATH=<profile root> python3 ort_install_session.py restart

``install``: onnxruntime missing -> the options page's Install button -> Classify layer;
``restart``: a new QGIS session finds the install.

Prints one JSON line of findings; the test asserts on them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


def wait_for(task, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while task.status() not in (task.Complete, task.Terminated):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{task.description()} still running after {seconds} s")
        QgsApplication.processEvents()
        time.sleep(0.05)
    for _ in range(20):  # let finished() and the queued signals reach the main thread
        QgsApplication.processEvents()


def install(out: Path) -> dict:
    from qgis_csp_plugin.contract.errors import MissingDependencyError
    from qgis_csp_plugin.contract.onnx_model import import_onnxruntime
    from qgis_csp_plugin.contract.schema import Kind
    from qgis_csp_plugin.core.default_models import find_default_model
    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare
    from qgis_csp_plugin.plugin import GeoSslPlugin
    from qgis_csp_plugin.ui.classify_task import ClassifyTask
    from qgis_csp_plugin.ui.options_page import GeoSslOptionsPage

    found: dict = {"python": sys.executable}
    GeoSslPlugin(None)  # what QGIS does at start-up: activates the (absent) dependency folder
    try:
        import_onnxruntime()
    except MissingDependencyError as exc:
        found["missing"] = str(exc)
    page = GeoSslOptionsPage()
    found["status_before"] = page.status.text()
    page.install_button.click()  # the options page's "Install onnxruntime"
    from qgis_csp_plugin.ui.ort_installer import _running

    found["button_disabled"] = not page.install_button.isEnabled()
    wait_for(_running[0], 900)
    found["log"] = page.log.toPlainText()
    found["status_after"] = page.status.text()
    import onnxruntime

    found["ort_file"], found["ort_version"] = onnxruntime.__file__, onnxruntime.__version__
    layer = QgsRasterLayer(str(SCENE), "landsat")
    job = prepare(ClassifyRequest(layer=layer, model_path=find_default_model(Kind.IMAGE_CLASSIFIER, prefer="rgb"),
                                  outputs={"vector": out / "tiles.gpkg", "classes": out / "classes.tif"}))
    task = ClassifyTask(job)
    QgsApplication.taskManager().addTask(task)
    wait_for(task, 600)
    found["classify_error"] = task.error
    found["layers"] = sorted(layer.name() for layer in task.layers)
    found["classes"] = sorted({f["class"] for f in task.layers[0].getFeatures()}) if task.layers else []
    found["runtime_note"] = job.model.runtime_note
    QgsProject.instance().clear()
    return found


def restart() -> dict:
    from qgis_csp_plugin.plugin import GeoSslPlugin

    GeoSslPlugin(None)
    import onnxruntime

    return {"ort_file": onnxruntime.__file__}


def main() -> None:
    app = QgsApplication([], True)
    app.initQgis()
    found = install(Path(sys.argv[2])) if sys.argv[1] == "install" else restart()
    found["settings_dir"] = QgsApplication.qgisSettingsDirPath()
    print(json.dumps(found))
    app.exitQgis()


if __name__ == "__main__":
    main()
