"""scripts/check_qt6.py: the plugin passes; each PyQt5-only habit is reported with its scoped form."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_qt6.py"
_spec = importlib.util.spec_from_file_location("check_qt6", SCRIPT)
check_qt6 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_qt6)

PYQT5_HABITS = '''
from PyQt5.QtCore import QTimer
from qgis.core import Qgis, QgsTask, QgsCoordinateReferenceSystem, QgsUnitTypes
from qgis.PyQt.QtCore import Qt, QVariant
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox

level = Qgis.Critical
flags = QgsTask.CanCancel
role = Qt.ItemDataRole.ToolTipRole
ok = QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.Cancel
wkt = QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL
metres = QgsUnitTypes.DistanceMeters
QDialog().exec_()
'''


def test_plugin_source_is_qt6_ready():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "[qt6] ok: no PyQt5-only code"


def test_pyqt5_habits_are_reported_with_their_qt6_spelling(tmp_path):
    source = tmp_path / "legacy.py"
    source.write_text(PYQT5_HABITS)
    messages = [message for _line, message in check_qt6.check_file(source)]
    assert sorted(messages) == sorted([
        "from PyQt5.QtCore import …: import Qt through qgis.PyQt",
        "QVariant is PyQt5-only: use QMetaType.Type (QgsField accepts it since QGIS 3.38)",
        "Qgis.Critical: unscoped enum value, write Qgis.MessageLevel.Critical",
        "QgsTask.CanCancel: unscoped enum value, write QgsTask.Flag.CanCancel",
        "QDialogButtonBox.Cancel: unscoped enum value, write QDialogButtonBox.StandardButton.Cancel",
        "QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL: unscoped enum value, write Qgis.CrsWktVariant.Preferred",
        "QgsUnitTypes.DistanceMeters: unscoped enum value, write Qgis.DistanceUnit.Meters",
        ".exec_ is PyQt5-only: use exec",
    ])
    failing = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert failing.returncode == 1 and "[qt6] 8 finding(s)" in failing.stdout


@pytest.mark.slow
def test_qt_names_exist_in_pyqt6_from_pypi(tmp_path_factory):
    """PyQt6 from PyPI (the local pip configuration) in a private folder; the plugin's qgis.PyQt imports
    and scoped Qt enums resolve in it. QGIS's own classes are not checked (no QGIS 4 build here)."""
    target = tmp_path_factory.mktemp("pyqt6")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--only-binary", ":all:", "--target",
                              str(target), "PyQt6"], capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.skip(f"PyQt6 could not be installed from the package index: {install.stderr[-300:]}")
    env = {**os.environ, "PYTHONPATH": str(target), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "check_pyqt6_names.py"),
                             str(REPO / "qgis_csp_plugin")], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("[pyqt6] ok: every qgis.PyQt name and scoped enum of the plugin exists in PyQt6 6.")
