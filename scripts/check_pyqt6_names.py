"""Do the Qt names the plugin uses exist in PyQt6? Run with a Python that has PyQt6 (no QGIS needed).

    pip install --target /tmp/pyqt6 PyQt6
    PYTHONPATH=/tmp/pyqt6 python3 scripts/check_pyqt6_names.py [folder]   # default: qgis_csp_plugin

Every ``from qgis.PyQt.<module> import <name>`` must exist in ``PyQt6.<module>`` (``QAction``,
``QActionGroup`` and ``QShortcut`` are imported from ``qgis.PyQt.QtGui``, their Qt 6 home, which
QGIS >= 3.40 also provides under Qt 5), and
every attribute chain starting at such a name (``Qt.ItemDataRole.ToolTipRole``,
``QDialogButtonBox.StandardButton.Ok``, ``QMetaType.Type.QString``) must resolve in PyQt6.
Prints one line per missing name and exits 1, or ``ok`` and exits 0. What this does not check:
QGIS's own classes (``qgis.core``/``qgis.gui``), which need a QGIS 4 build.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path


def _resolve(module: str, name: str):
    return getattr(importlib.import_module(f"PyQt6.{module}"), name, None)


def check_file(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound, problems = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgis.PyQt."):
            module = node.module.split(".")[-1]
            for alias in node.names:
                obj = _resolve(module, alias.name)
                if obj is None:
                    problems.append(f"{path}:{node.lineno}: PyQt6.{module} has no {alias.name}")
                else:
                    bound[alias.asname or alias.name] = obj
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child._parent = node  # type: ignore[attr-defined]
    outermost = [n for n in ast.walk(tree)
                 if isinstance(n, ast.Attribute) and not isinstance(getattr(n, "_parent", None), ast.Attribute)]
    for node in outermost:
        attrs, base = [], node
        while isinstance(base, ast.Attribute):
            attrs.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in bound:
            continue
        obj = bound[base.id]
        for i, attr in enumerate(attrs):
            if not hasattr(obj, attr):
                problems.append(f"{path}:{node.lineno}: {'.'.join([base.id, *attrs[: i + 1]])} is not in PyQt6")
                break
            obj = getattr(obj, attr)
    return problems


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "qgis_csp_plugin"
    import PyQt6.QtCore

    problems = [p for path in sorted(folder.rglob("*.py")) for p in check_file(path)]
    for problem in problems:
        print(problem)
    print(f"[pyqt6] {len(problems)} name(s) missing in PyQt6 {PyQt6.QtCore.PYQT_VERSION_STR}" if problems
          else f"[pyqt6] ok: every qgis.PyQt name and scoped enum of the plugin exists in PyQt6 "
               f"{PyQt6.QtCore.PYQT_VERSION_STR} (Qt {PyQt6.QtCore.QT_VERSION_STR})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
