"""The contract is visible and kept: what the trainer may import from the plugin, what the contract
itself may import, and the documented model format against the schema."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import fields
from pathlib import Path

from qgis_csp_plugin.contract.schema import EXPORT_REPORT_KEY, KINDS, SCHEMA_MARKER, ModelMetadata

REPO = Path(__file__).resolve().parents[2]
CONTRACT = "qgis_csp_plugin.contract"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = node.module or ""
            names.add(f"{base}.{module}".rstrip(".") if node.level else module)
    return names


def test_the_trainer_imports_only_the_contract_from_the_plugin():
    offending = {
        f"{path.relative_to(REPO)}: {name}"
        for path in (REPO / "trainer").rglob("*.py")
        for name in imported_modules(path)
        if name.startswith("qgis_csp_plugin") and not name.startswith(CONTRACT)
    }
    assert not offending, f"the trainer may import only {CONTRACT} from the plugin: {sorted(offending)}"


def test_the_contract_is_pure_python_and_numpy():
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    for path in (REPO / "qgis_csp_plugin" / "contract").glob("*.py"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name.startswith(CONTRACT) or top in allowed:
                continue
            # onnxruntime is imported lazily, only when a model file is opened
            assert (path.name, top) == ("onnx_model.py", "onnxruntime"), f"{path.name} imports {name}"


def test_model_format_doc_lists_exactly_the_schema_fields():
    text = (REPO / "docs" / "model_format.md").read_text(encoding="utf-8")
    table = text.split("## Metadata keys", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            documented.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    schema = {f.name for f in fields(ModelMetadata)} - {"schema_version"} | {SCHEMA_MARKER, EXPORT_REPORT_KEY}
    assert documented == schema
    kinds_row = next(row for row in table.splitlines() if row.startswith("| `kind`"))
    assert set(re.findall(r"`([a-z_]+)`", kinds_row.split("|")[4])) == set(KINDS)


def test_processing_jobs_and_qgis_io_do_not_import_the_dialogs():
    for folder in ("processing", "jobs", "qgis_io", "core"):
        for path in (REPO / "qgis_csp_plugin" / folder).glob("*.py"):
            ui = {name for name in imported_modules(path) if name.startswith("qgis_csp_plugin.ui")}
            assert not ui, f"{path.relative_to(REPO)} imports {sorted(ui)}"


def test_the_plugin_compares_and_passes_kinds_as_enums_not_bare_strings():
    """Model kinds (``Kind``), heatmap kinds (``HeatmapKind``) and Classify output kinds (``OutputKind``) are
    compared and passed as enum members: a bare ``"location_prior"`` in a comparison or a call is a name the
    enums do not see (a typo there would fail silently)."""
    from qgis_csp_plugin.core.kinds import HeatmapKind, OutputKind

    kinds = set(KINDS) | {k.value for k in HeatmapKind} | {k.value for k in OutputKind}
    bare = []
    for path in (REPO / "qgis_csp_plugin").rglob("*.py"):
        if path.name in ("schema.py", "kinds.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            operands = (node.comparators + [node.left] if isinstance(node, ast.Compare)
                        else node.args + [k.value for k in node.keywords] if isinstance(node, ast.Call) else [])
            bare += [f"{path.relative_to(REPO)}:{node.lineno} {o.value!r}" for o in operands
                     if isinstance(o, ast.Constant) and o.value in kinds]
    assert not bare, f"kinds written as bare strings: {bare}"
