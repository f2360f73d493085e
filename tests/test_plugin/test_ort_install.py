"""'Install onnxruntime': interpreter discovery, pinned requirements, failures, and a real install in QGIS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest

from qgis_csp_plugin.contract.onnx_model import needs_install, version_tuple
from qgis_csp_plugin.core.ort_install import (
    InstallError,
    dependencies_dir,
    find_qgis_python,
    install,
    pinned_version,
    python_candidates,
    requirements,
)

REPO = Path(__file__).resolve().parents[2]
SESSION = REPO / "tests" / "ort_install_session.py"
DEBIAN_PYTHON = Path("/usr/bin/python3")
EUROSAT = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
           "Residential", "River", "SeaLake"]


def test_versions_and_pins():
    assert version_tuple("1.22.1") == (1, 22, 1) and version_tuple("1.25.0.dev2026") == (1, 25, 0)
    assert needs_install(None) and needs_install("1.16.3") and not needs_install("1.17.0")
    assert [pinned_version(v) for v in ((3, 9), (3, 11), (3, 13), (3, 14))] == ["1.19.2", "1.22.1", "1.22.1", "1.24.4"]
    assert requirements((3, 12)) == ["onnxruntime==1.22.1", f"numpy=={numpy.__version__}"]  # QGIS's own numpy
    assert dependencies_dir("/p/profiles/default", (3, 12)) == Path("/p/profiles/default/python/csp_dependencies/py312")


def test_interpreter_candidates_never_trust_the_qgis_binary():
    windows = python_candidates(r"C:\OSGeo4W\bin\qgis-ltr-bin.exe", r"C:\OSGeo4W\apps\Python312", "win32", (3, 12))
    assert windows[0] == Path(r"C:\OSGeo4W\apps\Python312") / "python.exe"
    assert all(p.name.startswith("python") for p in windows)
    mac = python_candidates("/Applications/QGIS.app/Contents/MacOS/QGIS",
                            "/Applications/QGIS.app/Contents/Frameworks", "darwin", (3, 9))
    assert Path("/Applications/QGIS.app/Contents/MacOS/bin/python3.9") in mac
    assert Path("/Applications/QGIS.app/Contents/MacOS/QGIS") not in mac
    linux = python_candidates("/usr/bin/python3", "/usr", "linux", (3, 11))
    assert linux[:2] == [Path("/usr/bin/python3"), Path("/usr/bin/python3.11")]


def test_finds_this_python_when_the_executable_is_the_qgis_binary():
    """As inside QGIS: sys.executable names the application; the interpreter is confirmed by asking it."""
    python = find_qgis_python(executable="/usr/bin/qgis", exec_prefix=sys.exec_prefix, platform=sys.platform)
    probe = "import sys; print(sys.exec_prefix)"
    assert subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.strip() == sys.exec_prefix
    with pytest.raises(InstallError, match="cannot find the Python interpreter of this QGIS"):
        find_qgis_python(executable="/usr/bin/qgis", exec_prefix="/nonexistent", platform="win32")


def test_proxy_failure_shows_pips_message_and_the_manual_command(tmp_path, monkeypatch):
    """A proxy that refuses connections: pip's own error and the command to run by hand; nothing left."""
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no local index: the proxy is the only way out
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.org/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    lines: list[str] = []
    target = tmp_path / "deps" / "py311"
    with pytest.raises(InstallError) as caught:
        install(Path(sys.executable), target, lines.append)
    message = str(caught.value)
    assert message.startswith("pip could not install onnxruntime (offline, proxy or no wheel for this platform?)")
    assert "proxy" in message.lower() and f"To install it by hand: {sys.executable} -m pip install --target" in message
    assert lines[0].startswith(f"$ {sys.executable} -m pip install") and "onnxruntime==" in lines[0]
    assert f"--target {target.parent}/.py311.{os.getpid()}-" in lines[0]  # the one temporary naming (temp_files)
    assert not target.exists() and list((tmp_path / "deps").iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_PYTHON.is_file(), reason="needs Debian's QGIS Python /usr/bin/python3")
def test_install_in_a_clean_qgis_then_classify_layer_works(tmp_path):
    """Debian's QGIS Python has no onnxruntime: the options page installs it (pip from the local pip
    configuration, PyPI), the log streams in, Classify layer then runs, and a new session finds it."""
    profile, out = tmp_path / "profile", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONNOUSERSITE": "1", "QT_QPA_PLATFORM": "offscreen",
           "QGIS_CUSTOM_CONFIG_PATH": str(profile)}  # a clean profile (not pytest-qgis's, not the user's)
    out.mkdir()
    hidden = subprocess.run([str(DEBIAN_PYTHON), "-c", "import onnxruntime"], env=env, capture_output=True)
    assert hidden.returncode != 0  # onnxruntime really is absent from this QGIS
    result = subprocess.run([str(DEBIAN_PYTHON), str(SESSION), "install", str(out)], env=env,
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    target = Path(found["settings_dir"]) / "python" / "csp_dependencies" / "py311"
    assert found["settings_dir"].startswith(str(profile))  # the clean profile, nothing outside it
    assert found["missing"].startswith("The CSP plugin needs onnxruntime, which is not installed in QGIS's Python.")
    assert found["status_before"] == "onnxruntime is not installed in QGIS's Python: the plugin cannot run models."
    assert found["button_disabled"]
    assert "Successfully installed" in found["log"] and "onnxruntime==1.22.1" in found["log"]
    assert found["status_after"] == "onnxruntime 1.22.1 is installed."
    assert found["ort_version"] == "1.22.1" and found["ort_file"].startswith(str(target))
    assert found["classify_error"] is None
    assert found["layers"] == ["landsat — EuroSAT RGB classes", "landsat — EuroSAT RGB tiles"]
    assert found["classes"] and set(found["classes"]) <= set(EUROSAT) | {"nodata"}
    assert found["runtime_note"].startswith("eurosat_rgb.onnx runs on onnxruntime CPUExecutionProvider")
    assert not list(target.parent.glob(".*"))  # no staging folder left
    again = subprocess.run([str(DEBIAN_PYTHON), str(SESSION), "restart"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["ort_file"].startswith(str(target))


def test_cancel_stops_pip_at_once_and_leaves_nothing(tmp_path):
    """Cancelled before pip prints anything: pip is killed, no folder is left, the message says so."""
    target = tmp_path / "deps" / "py311"
    started = time.monotonic()
    with pytest.raises(InstallError, match="installation of onnxruntime cancelled; nothing was changed"):
        install(Path(sys.executable), target, lambda line: None, canceled=lambda: True)
    assert time.monotonic() - started < 10
    assert not target.exists() and list((tmp_path / "deps").iterdir()) == []
