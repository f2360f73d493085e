"""Running the plugin's algorithms through the real ``qgis_process`` command line."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

QGIS_PROCESS = "/usr/bin/qgis_process.bin"  # Debian's ``qgis_process`` is a wrapper script around it
REPO = Path(__file__).resolve().parents[1]


def plugin_environment(tmp_path: Path) -> dict[str, str]:
    """A plugin folder (package + metadata.txt) and a fresh profile that enables the plugin.

    QGIS 3.22's qgis_process has no ``plugins enable``: it loads the enabled plugins of the profile
    found under QGIS_CUSTOM_CONFIG_PATH, searching QGIS_PLUGINPATH.
    """
    plugin = tmp_path / "plugins" / "qgis_csp_plugin"
    shutil.copytree(REPO / "qgis_csp_plugin", plugin, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "metadata.txt", plugin / "metadata.txt")
    ini = tmp_path / "config" / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\nqgis_csp_plugin=true\n")
    site = [p for p in sys.path if p.endswith("site-packages")]  # onnxruntime of this interpreter
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(plugin.parent),
            "QGIS_CUSTOM_CONFIG_PATH": str(ini.parents[3]), "PYTHONPATH": os.pathsep.join(site)}
