"""Qt 6 / QGIS 4 readiness check of the plugin's source: fails on code that only works with PyQt5.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/check_qt6.py [folder ...]   # default: qgis_csp_plugin

Run in QGIS's Python (it imports the names the plugin imports, to resolve them). Rules:

1. Qt is imported only through ``qgis.PyQt`` (never ``PyQt5``/``PyQt6``/``sip`` directly).
2. Every enum value is fully scoped: ``Qt.ItemDataRole.ToolTipRole``, ``Qgis.MessageLevel.Critical``,
   ``QgsTask.Flag.CanCancel`` — PyQt6 and QGIS 4 drop the unscoped aliases (``Qt.ToolTipRole``).
   Found by resolving every ``Name.attr…`` chain that starts at an imported name and checking
   whether an attribute is an enum member reached from its owner class instead of its enum type.
3. No PyQt5-only API: ``exec_``/``print_``, ``QVariant`` (field types are ``QMetaType.Type``),
   ``QRegExp``, ``QDesktopWidget``, ``QApplication.desktop``.

Prints one line per finding (``file:line: message``) and exits 1, or prints ``ok`` and exits 0.
"""

from __future__ import annotations

import ast
import enum
import importlib
import sys
from pathlib import Path

DIRECT_QT = ("PyQt5", "PyQt6", "sip", "PySide2", "PySide6")
PYQT5_ONLY_ATTRS = {"exec_": "exec", "print_": "print", "desktop": "QScreen (QGuiApplication.screens)"}
PYQT5_ONLY_NAMES = {"QVariant": "QMetaType.Type (QgsField accepts it since QGIS 3.38)",
                    "QRegExp": "QRegularExpression", "QDesktopWidget": "QScreen"}


def _is_enum_type(obj) -> bool:
    return isinstance(obj, type) and (issubclass(obj, enum.Enum) or type(obj).__name__ == "enumtype")


def _is_enum_member(obj) -> bool:
    return not isinstance(obj, type) and _is_enum_type(type(obj))


def _member_name(value, attr: str) -> str:
    """The scoped name of ``value``: ``attr`` itself, or the alias QGIS gave it in the promoted enum."""
    if not isinstance(value, enum.Enum):
        return attr
    aliases = [name for name, member in type(value).__members__.items() if member is value]
    squash = attr.replace("_", "").lower()
    return next((name for name in aliases if name.replace("_", "").lower() == squash), value.name)


def _imported_objects(tree: ast.Module, findings: list[tuple[int, str]]) -> dict[str, object]:
    """Names bound by ``from qgis… import X`` resolved to the live objects; direct Qt imports reported."""
    bound: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DIRECT_QT:
                    findings.append((node.lineno, f"import {alias.name}: import Qt through qgis.PyQt"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in DIRECT_QT:
                findings.append((node.lineno, f"from {node.module} import …: import Qt through qgis.PyQt"))
            elif root == "qgis":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if alias.name in PYQT5_ONLY_NAMES:
                        use = PYQT5_ONLY_NAMES[alias.name]
                        findings.append((node.lineno, f"{alias.name} is PyQt5-only: use {use}"))
                    if hasattr(module, alias.name):
                        bound[alias.asname or alias.name] = getattr(module, alias.name)
    return bound


def _chain(node: ast.Attribute) -> tuple[str, list[str]] | None:
    """``Qt.ItemDataRole.ToolTipRole`` -> ("Qt", ["ItemDataRole", "ToolTipRole"])."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.insert(0, node.attr)
        node = node.value
    return (node.id, attrs) if isinstance(node, ast.Name) else None


def _scoping_finding(name: str, obj: object, attrs: list[str]) -> str | None:
    for i, attr in enumerate(attrs):
        value = getattr(obj, attr, None)
        if value is None:
            return None
        if _is_enum_member(value) and not _is_enum_type(obj):
            written = ".".join([name, *attrs[: i + 1]])
            scoped = f"{type(value).__qualname__}.{_member_name(value, attr)}"
            return f"{written}: unscoped enum value, write {scoped}"
        obj = value
    return None


def check_file(path: Path) -> list[tuple[int, str]]:
    """Findings ``(line, message)`` of one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    findings: list[tuple[int, str]] = []
    bound = _imported_objects(tree, findings)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PYQT5_ONLY_ATTRS:
            findings.append((node.lineno, f".{node.attr} is PyQt5-only: use {PYQT5_ONLY_ATTRS[node.attr]}"))
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "_parent", None), ast.Attribute):
            chain = _chain(node)
            if chain and chain[0] in bound:
                message = _scoping_finding(chain[0], bound[chain[0]], chain[1])
                if message:
                    findings.append((node.lineno, message))
        for child in ast.iter_child_nodes(node):
            child._parent = node  # type: ignore[attr-defined]
    return sorted(set(findings))


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent / "qgis_csp_plugin"]
    lines = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            lines += [f"{path}:{line}: {message}" for line, message in check_file(path)]
    for line in lines:
        print(line)
    print(f"[qt6] {len(lines)} finding(s): the plugin is not Qt 6 ready" if lines else "[qt6] ok: no PyQt5-only code")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
