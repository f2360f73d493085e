"""Check a plugin zip against the rules of the official QGIS plugin repository (plugins.qgis.org).

    python3 scripts/check_plugin_zip.py dist/qgis_csp_plugin.zip

Prints one line per broken rule and exits 1, or prints ``ok`` and exits 0. The rules are those the
repository's upload validator applies (size, one top folder named like a Python package, no
``.pyc``/``__pycache__``/``.git``/``__MACOSX``, ``__init__.py``, ``metadata.txt`` with its required
keys, a ``LICENSE`` file, http(s) links, no slash in ``author``) plus what this project requires of
itself: ``changelog``, ``homepage`` and ``tags`` filled in, an existing icon, and no compiled or
binary files (the repository refuses plugins that ship binaries), and every third-party copyright notice a
model carries in its metadata (``Copyright (c) …``, e.g. the imported Presto and Galileo encoders) also in a
``models/LICENSE_*.txt`` file of the zip.
"""

from __future__ import annotations

import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_BYTES = 25_000_000  # plugins.qgis.org PLUGIN_MAX_UPLOAD_SIZE
REQUIRED = ("name", "description", "about", "version", "qgisMinimumVersion", "author", "email",
            "tracker", "repository", "homepage", "changelog", "tags", "icon")
URL_KEYS = ("tracker", "repository", "homepage")
FORBIDDEN_DIRS = {"__pycache__", ".git", "__MACOSX"}
COMPILED = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".o", ".a", ".lib")
PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]+$")
VERSION = re.compile(r"^\d+(\.\d+){1,2}$")
MODEL_NOTICE = re.compile(rb"Copyright \(c\) [^\"()\\]+")


def _member_problems(names: list[str]) -> list[str]:
    problems = []
    for name in names:
        parts = name.split("/")
        if ".." in parts or name.startswith("/"):
            problems.append(f"{name}: paths must be relative, without '..'")
        if FORBIDDEN_DIRS & set(parts[:-1]):
            problems.append(f"{name}: folders {sorted(FORBIDDEN_DIRS)} are refused")
        if name.lower().endswith(COMPILED):
            problems.append(f"{name}: compiled or binary files are refused")
    return problems


def _metadata_problems(general: dict[str, str]) -> list[str]:
    problems = [f"metadata.txt: '{key}' is missing or empty" for key in REQUIRED if not general.get(key, "").strip()]
    for key in URL_KEYS:
        url = urlparse(general.get(key, ""))
        if general.get(key) and (url.scheme not in ("http", "https") or not url.netloc):
            problems.append(f"metadata.txt: '{key}' must be an http(s) link, found {general[key]!r}")
    for key in ("version", "qgisMinimumVersion"):
        if general.get(key) and not VERSION.match(general[key]):
            problems.append(f"metadata.txt: '{key}' must look like 1.2 or 1.2.3, found {general[key]!r}")
    if "/" in general.get("author", ""):
        problems.append("metadata.txt: 'author' cannot contain slashes")
    return problems


def _notice_problems(archive: zipfile.ZipFile, names: list[str], package: str) -> list[str]:
    """Models that carry a copyright notice which no ``models/LICENSE_*.txt`` in the zip reproduces."""
    folder = f"{package}/models/"
    notices = " ".join(archive.read(name).decode("utf-8", "replace") for name in names
                       if name.startswith(folder + "LICENSE_") and name.endswith(".txt"))
    problems = []
    for name in names:
        if name.startswith(folder) and name.endswith(".onnx"):
            found = {m.decode("utf-8", "replace").strip() for m in MODEL_NOTICE.findall(archive.read(name))}
            for notice in sorted(found):
                if notice not in notices:
                    problems.append(f"{name}: carries the notice '{notice}', which no {folder}LICENSE_*.txt reproduces")
    return problems


def check_zip(path: Path) -> list[str]:
    """Every rule ``path`` breaks, as sentences; empty when the zip is ready to upload."""
    if not path.is_file():
        return [f"{path}: no such file"]
    problems = []
    size = path.stat().st_size
    if size > MAX_BYTES:
        problems.append(f"{path.name}: {size / 1e6:.1f} MB, the repository accepts at most {MAX_BYTES / 1e6:.0f} MB")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return problems + [f"{path.name}: not a zip file"]
    with archive:
        names = archive.namelist()
        bad = archive.testzip()
        if bad:
            problems.append(f"{bad}: corrupt member (CRC error)")
        problems += _member_problems(names)
        tops = sorted({name.split("/")[0] for name in names})
        if len(tops) != 1 or not any("/" in name for name in names):
            return problems + [f"the zip must hold exactly one top folder, found {tops}"]
        package = tops[0]
        if not PACKAGE_NAME.match(package):
            problems.append(f"top folder {package!r}: must start with an ASCII letter, "
                            "then letters, digits, '-' or '_'")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{package}/{required}" not in names:
                problems.append(f"{package}/{required} is missing")
        problems += _notice_problems(archive, names, package)
        if f"{package}/metadata.txt" not in names:
            return problems
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        try:
            parser.read_string(archive.read(f"{package}/metadata.txt").decode("utf-8"))
        except (configparser.Error, UnicodeDecodeError) as exc:
            return problems + [f"metadata.txt cannot be parsed: {exc}"]
        if not parser.has_section("general"):
            return problems + ["metadata.txt has no [general] section"]
        general = dict(parser.items("general"))
        problems += _metadata_problems(general)
        icon = general.get("icon", "").removeprefix("./")
        if icon and f"{package}/{icon}" not in names:
            problems.append(f"metadata.txt names icon {icon!r}, which is not in the zip")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 scripts/check_plugin_zip.py <plugin.zip>", file=sys.stderr)
        return 2
    problems = check_zip(Path(argv[0]))
    for problem in problems:
        print(f"[package] refused by the plugin repository rules: {problem}", file=sys.stderr)
    if not problems:
        print(f"[package] ok: {argv[0]} follows the plugin repository rules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
