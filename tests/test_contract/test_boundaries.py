"""The contract is visible and kept: what the trainer may import from the plugin, what the contract
itself may import, the layering of both packages, and the documented model format against the schema."""

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


#: What parts of the trainer may import from the rest of it: data/ is its floor (it reads data and builds no
#: network), the checkpoint reader sits below the tasks that checkpoints rebuild.
TRAINER_FLOORS = {"trainer/data": ("trainer.data", "trainer.errors"),
                  "trainer/checkpoints.py": ("trainer.errors",)}
#: Imports trainer/data may make inside a function: optional heavy dependencies, only when used.
OPTIONAL_IMPORTS = {"boto3", "osgeo"}


def test_the_trainer_imports_only_downward():
    upward = []
    for part, allowed in TRAINER_FLOORS.items():
        paths = [REPO / part] if part.endswith(".py") else sorted((REPO / part).glob("*.py"))
        upward += [f"{path.relative_to(REPO)}: {name}" for path in paths for name in imported_modules(path)
                   if name.startswith("trainer") and not name.startswith(allowed)]
    assert not upward, f"imports against the trainer's layering (data/ and checkpoints.py below tasks/, models/): " \
                       f"{upward}"


def test_trainer_data_imports_at_module_level():
    """A function-level import hides a dependency (and an import cycle): only optional heavy dependencies may
    wait until they are used."""
    hidden = []
    for path in sorted((REPO / "trainer" / "data").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                hidden += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] not in OPTIONAL_IMPORTS]
    assert not hidden, f"function-level imports in trainer/data: {hidden}"


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


#: The plugin's layers, bottom up: each imports only from its own layer and those below (ui/ and processing/
#: are both on top and import neither each other); core/ computes with numpy, onnxruntime and osgeo, no PyQGIS.
PLUGIN_LAYERS = {"contract": 0, "core": 1, "qgis_io": 2, "jobs": 3, "processing": 4, "ui": 4}


def test_the_plugin_imports_only_downward():
    upward = []
    for package, rank in PLUGIN_LAYERS.items():
        for path in (REPO / "qgis_csp_plugin" / package).glob("*.py"):
            for name in imported_modules(path):
                parts = name.split(".")
                target = parts[1] if parts[0] == "qgis_csp_plugin" and len(parts) > 1 else None
                if target in PLUGIN_LAYERS and target != package and PLUGIN_LAYERS[target] >= rank:
                    upward.append(f"{path.relative_to(REPO)}: {name}")
                if package in ("contract", "core") and parts[0] == "qgis":
                    upward.append(f"{path.relative_to(REPO)}: {name} (PyQGIS below qgis_io/)")
    assert not upward, f"imports against the layering ui/processing -> jobs -> qgis_io -> core -> contract: {upward}"


def bare_kinds(package: str, kinds: set[str], skip: tuple[str, ...] = ()) -> list[str]:
    """``file:line 'value'`` of every kind in ``kinds`` written as a bare string in a comparison or a call under
    ``package`` (a constant tested for membership, ``"location_encoder" in hparams``, is a key, not a kind)."""
    bare = []
    for path in (REPO / package).rglob("*.py"):
        if path.name in skip:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                membership = all(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
                operands = node.comparators + ([] if membership else [node.left])
            elif isinstance(node, ast.Call):
                operands = node.args + [k.value for k in node.keywords]
            else:
                operands = []
            bare += [f"{path.relative_to(REPO)}:{node.lineno} {o.value!r}" for o in operands
                     if isinstance(o, ast.Constant) and o.value in kinds]
    return bare


def test_the_plugin_compares_and_passes_kinds_as_enums_not_bare_strings():
    """Model kinds (``Kind``), heatmap kinds (``HeatmapKind``) and Classify output kinds (``OutputKind``) are
    compared and passed as enum members: a bare ``"location_prior"`` in a comparison or a call is a name the
    enums do not see (a typo there would fail silently)."""
    from qgis_csp_plugin.core.kinds import HeatmapKind, OutputKind

    kinds = set(KINDS) | {k.value for k in HeatmapKind} | {k.value for k in OutputKind}
    bare = bare_kinds("qgis_csp_plugin", kinds, skip=("schema.py", "kinds.py"))
    assert not bare, f"kinds written as bare strings: {bare}"


def test_the_trainer_compares_and_passes_model_kinds_as_enums_not_bare_strings():
    """The trainer names a model kind by the contract's ``Kind`` too (exports, imports, evaluations)."""
    bare = bare_kinds("trainer", set(KINDS))
    assert not bare, f"model kinds written as bare strings: {bare}"
