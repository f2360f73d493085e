"""scripts/check_plugin_zip.py refuses what plugins.qgis.org refuses, and package_plugin.sh stops on it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_plugin_zip.py"
PACKAGE = "qgis_csp_plugin"
_spec = importlib.util.spec_from_file_location("check_plugin_zip", SCRIPT)
checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checker)


def _zip(path: Path, metadata: str | None = None, extra: dict[str, bytes] | None = None,
         drop: tuple[str, ...] = ()) -> Path:
    """A plugin zip with the repository's own metadata.txt (or ``metadata``), plus/minus members."""
    members = {
        f"{PACKAGE}/__init__.py": b"def classFactory(iface):\n    pass\n",
        f"{PACKAGE}/metadata.txt": (metadata or (REPO / "metadata.txt").read_text()).encode(),
        f"{PACKAGE}/LICENSE": (REPO / "LICENSE").read_bytes(),
        f"{PACKAGE}/icon.svg": (REPO / PACKAGE / "icon.svg").read_bytes(),
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if name.split("/", 1)[-1] not in drop:
                archive.writestr(name, data)
    return path


def _metadata_without(key: str) -> str:
    lines = (REPO / "metadata.txt").read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith(f"{key}=")) + "\n"


def test_repository_metadata_passes(tmp_path):
    assert checker.check_zip(_zip(tmp_path / "ok.zip")) == []


@pytest.mark.parametrize("key", ["changelog", "homepage", "tracker", "repository", "tags", "about", "email"])
def test_missing_required_metadata_is_named(tmp_path, key):
    problems = checker.check_zip(_zip(tmp_path / "p.zip", metadata=_metadata_without(key)))
    assert problems == [f"metadata.txt: '{key}' is missing or empty"]


def test_compiled_files_caches_license_and_links_are_refused(tmp_path):
    metadata = (REPO / "metadata.txt").read_text().replace("tracker=https://", "tracker=ftp://")
    problems = checker.check_zip(_zip(tmp_path / "p.zip", metadata=metadata, drop=("LICENSE",), extra={
        f"{PACKAGE}/core/__pycache__/x.cpython-311.pyc": b"\0", f"{PACKAGE}/lib/fast.so": b"\0"}))
    text = "\n".join(problems)
    assert "__pycache__/x.cpython-311.pyc: folders" in text and "compiled or binary files" in text
    assert "lib/fast.so: compiled or binary files are refused" in text
    assert f"{PACKAGE}/LICENSE is missing" in text and "'tracker' must be an http(s) link" in text


def test_two_top_folders_are_refused(tmp_path):
    problems = checker.check_zip(_zip(tmp_path / "p.zip", extra={"other/readme.txt": b"x"}))
    assert problems == [f"the zip must hold exactly one top folder, found ['other', '{PACKAGE}']"]


def test_package_script_fails_with_the_reason_and_writes_nothing(tmp_path):
    """A model folder that makes the zip exceed 25 MB: the script names the rule, no zip is left."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "huge.onnx").write_bytes(os.urandom(26_000_000))  # random bytes do not compress
    out = tmp_path / "dist" / "plugin.zip"
    result = subprocess.run(["bash", str(REPO / "scripts" / "package_plugin.sh"), str(out)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "MODELS_DIR": str(models)})
    assert result.returncode == 1
    assert "the repository accepts at most 25 MB" in result.stderr and f"not written: {out}" in result.stderr
    assert not out.exists()


def test_command_line_ok_and_usage(tmp_path):
    ok = subprocess.run([sys.executable, str(SCRIPT), str(_zip(tmp_path / "ok.zip"))], capture_output=True, text=True)
    assert ok.returncode == 0 and "follows the plugin repository rules" in ok.stdout
    assert subprocess.run([sys.executable, str(SCRIPT)], capture_output=True).returncode == 2


def test_third_party_model_notices_must_be_shipped(tmp_path):
    """A model whose metadata carries "Copyright (c) …" (the imported Presto/Galileo encoders) needs that notice in
    a models/LICENSE_*.txt of the zip."""
    model = {f"{PACKAGE}/models/presto_encoder.onnx": (REPO / "models" / "presto_encoder.onnx").read_bytes()}
    problems = checker.check_zip(_zip(tmp_path / "p.zip", extra=model))
    assert problems == [f"{PACKAGE}/models/presto_encoder.onnx: carries the notice 'Copyright (c) 2024 Presto "
                        f"Authors', which no {PACKAGE}/models/LICENSE_*.txt reproduces"]
    licence = REPO / "models" / "LICENSE_presto_galileo.txt"
    notice = {f"{PACKAGE}/models/{licence.name}": licence.read_bytes()}
    assert checker.check_zip(_zip(tmp_path / "ok.zip", extra={**model, **notice})) == []
