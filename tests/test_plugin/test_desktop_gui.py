"""The real-desktop GUI test (scripts/gui_test.sh): QGIS under Xvfb, a fresh profile with the plugin zip,
the toolbar actions clicked through; about 2-3 min, so behind ``-m slow`` (CI runs the script itself)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (Path("/usr/bin/qgis").exists() and shutil.which("xvfb-run")),
                                 reason="needs the QGIS desktop (/usr/bin/qgis) and xvfb-run")]


def test_toolbar_session_in_a_fresh_qgis(tmp_path):
    done = subprocess.run(["bash", str(REPO / "scripts" / "gui_test.sh"), "1", str(tmp_path / "shots")],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((REPO / ".test-reports" / "gui_test" / "run1.json").read_text())
    assert report["finished"] and all(check["ok"] for check in report["checks"].values())
    assert report["checks"]["toolbar Classify adds its three named, styled layers"]["ok"]
    assert {p.name for p in (tmp_path / "shots").iterdir()} >= {"gui_classify_dialog.png", "gui_classified.png",
                                                              "gui_train_dialog.png", "gui_accuracy_table.png"}
