"""scripts/package_plugin.sh builds a zip that QGIS installs: unzip into a fresh profile, load headless."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import qgis.utils
from model_factory import export_image_classifier

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "qgis_csp_plugin"
FORBIDDEN_IMPORT = re.compile(r"^\s*(import|from)\s+(torch|trainer|lightning)\b", re.MULTILINE)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("package")
    models = work / "models"
    export_image_classifier(models / "tiny_rgb.onnx")
    out = work / "dist" / "qgis_csp_plugin.zip"
    result = subprocess.run(["bash", str(REPO / "scripts" / "package_plugin.sh"), str(out)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.fixture(scope="module")
def profile_plugins(built_zip, tmp_path_factory) -> Path:
    """The zip extracted where QGIS puts plugins: <profile>/python/plugins."""
    plugins = tmp_path_factory.mktemp("profile") / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(built_zip[0]) as archive:
        archive.extractall(plugins)
    return plugins


def test_zip_layout(built_zip):
    out, result = built_zip
    assert f"wrote {out}" in result.stdout and "1 model(s)" in result.stdout
    names = zipfile.ZipFile(out).namelist()
    assert all(name.startswith(f"{PACKAGE}/") for name in names)  # one top folder, as QGIS expects
    for required in ("__init__.py", "plugin.py", "metadata.txt", "icon.svg", "LICENSE", "contract/onnx_model.py",
                     "contract/schema.py", "qgis_io/provider_reader.py", "jobs/classify.py", "processing/provider.py",
                     "icons/classify.svg", "models/tiny_rgb.onnx"):
        assert f"{PACKAGE}/{required}" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".part"))]
    assert not [n for n in names if n.startswith((f"{PACKAGE}/trainer", f"{PACKAGE}/tests"))]
    python_files = {n for n in names if n.endswith(".py")}
    repo_files = {f"{PACKAGE}/{p.relative_to(REPO / PACKAGE)}" for p in (REPO / PACKAGE).rglob("*.py")}
    assert python_files == repo_files


def test_zip_metadata_license_and_model_are_the_repository_files(built_zip, profile_plugins):
    plugin = profile_plugins / PACKAGE
    assert (plugin / "metadata.txt").read_bytes() == (REPO / "metadata.txt").read_bytes()
    assert "MIT License" in (plugin / "LICENSE").read_text()
    found = dict(qgis.utils.findPlugins(str(profile_plugins)))  # QGIS's own metadata.txt reader
    general = dict(found[PACKAGE].items("general"))
    assert general["qgisminimumversion"] == "3.40" and general["icon"] == "icon.svg"
    assert (plugin / general["icon"]).is_file()


def test_plugin_source_never_imports_trainer_or_torch(profile_plugins):
    offenders = [str(p) for p in (profile_plugins / PACKAGE).rglob("*.py") if FORBIDDEN_IMPORT.search(p.read_text())]
    assert offenders == []
    code = """
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])
sys.path.append("/usr/share/qgis/python/plugins")
import qgis_csp_plugin
assert qgis_csp_plugin.__file__.startswith(sys.argv[1]), qgis_csp_plugin.__file__
for info in pkgutil.walk_packages(qgis_csp_plugin.__path__, "qgis_csp_plugin."):
    importlib.import_module(info.name)
print(sorted(m for m in ("torch", "trainer", "lightning") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code, str(profile_plugins)], cwd=profile_plugins,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def installed_plugin(profile_plugins):
    """Discover and import the plugin from the profile folder the way QGIS does; restore everything after."""
    own = {name: mod for name, mod in sys.modules.items() if name == PACKAGE or name.startswith(f"{PACKAGE}.")}
    saved = (qgis.utils.plugin_paths, qgis.utils.available_plugins, qgis.utils.plugins_metadata_parser)
    for name in own:
        del sys.modules[name]
    sys.path.insert(0, str(profile_plugins))
    qgis.utils.plugin_paths = [str(profile_plugins)]
    try:
        qgis.utils.updateAvailablePlugins()
        assert qgis.utils.available_plugins == [PACKAGE]
        assert qgis.utils.loadPlugin(PACKAGE)
        yield sys.modules[PACKAGE]
    finally:
        if PACKAGE in qgis.utils.active_plugins:
            qgis.utils.unloadPlugin(PACKAGE)
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        sys.modules.update(own)
        sys.path.remove(str(profile_plugins))
        qgis.utils.plugin_paths, qgis.utils.available_plugins, qgis.utils.plugins_metadata_parser = saved


def test_installed_zip_loads_in_headless_qgis(installed_plugin, profile_plugins, qgis_iface, qgis_app):
    plugin_dir = profile_plugins / PACKAGE
    assert Path(installed_plugin.__file__).parent == plugin_dir
    assert qgis.utils.startPlugin(PACKAGE)  # classFactory(iface) + initGui(), as at QGIS start-up
    plugin = qgis.utils.plugins[PACKAGE]
    from qgis.core import QgsApplication

    assert [a.text() for a in plugin.toolbar.actions()][0] == "Classify layer"
    assert QgsApplication.processingRegistry().providerById("csp") is not None
    default_models = sys.modules[f"{PACKAGE}.core.default_models"]
    assert default_models.default_model_dirs() == [plugin_dir / "models"]  # not <profile>/python/plugins/models
    assert default_models.default_model_paths() == [plugin_dir / "models" / "tiny_rgb.onnx"]
    onnx_model = sys.modules[f"{PACKAGE}.contract.onnx_model"]
    kind = sys.modules[f"{PACKAGE}.contract.schema"].Kind
    model = onnx_model.OnnxModel.load(default_models.find_default_model(kind.IMAGE_CLASSIFIER))
    assert model.metadata.name == "tiny_rgb" and "self check ok" in model.self_check()
    assert qgis.utils.unloadPlugin(PACKAGE)  # plugin.unload(): toolbar and provider gone
    assert QgsApplication.processingRegistry().providerById("csp") is None
