"""Install onnxruntime for QGIS's own Python into a plugin-private folder (no Qt here; the task is in ui/).

The folder is ``<QGIS settings>/python/csp_dependencies/py<major><minor>``: outside the plugin folder
(a plugin upgrade keeps it), one per Python version (a QGIS upgrade to a new Python installs again).
pip runs with QGIS's interpreter — found next to the running Python and confirmed by asking it for
its version and prefix, never ``sys.executable`` blindly (that is ``qgis-bin.exe`` on Windows and the
``QGIS`` app binary on macOS) — and with the user's pip configuration (index, proxy, certificates).
It installs into a hidden staging folder (:func:`~..contract.temp_files.atomic_folder`), verifies the result
by importing it in a subprocess, and only then replaces the folder, so a failed, cancelled or terminated
install leaves nothing behind.
"""

from __future__ import annotations

import os
import queue
import shlex
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

from ..contract import temp_files
from ..contract.errors import GeoSslError
from ..contract.onnx_model import MIN_VERSION, needs_install

# Newest onnxruntime with wheels for each Python (Windows x64, macOS x86_64/arm64, Linux x86_64/aarch64).
PINNED = (((3, 14), "1.24.4"), ((3, 10), "1.22.1"), ((3, 9), "1.19.2"))
FOLDER = Path("python") / "csp_dependencies"
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console flashing up on Windows


class InstallError(GeoSslError):
    """pip or the verification failed; the message carries pip's last lines and the manual command."""


def pinned_version(python: Sequence[int] = sys.version_info[:2]) -> str:
    """The onnxruntime version installed for a Python version."""
    for minimum, version in PINNED:
        if tuple(python) >= minimum:
            return version
    raise GeoSslError(f"Python {python[0]}.{python[1]} is too old for onnxruntime >= {'.'.join(map(str, MIN_VERSION))}")


def numpy_requirement() -> str:
    """Keep QGIS's own numpy (its GDAL bindings are built against it); ``numpy<2`` if there is none."""
    try:
        import numpy
    except ImportError:
        return "numpy<2"
    return f"numpy=={numpy.__version__}"


def requirements(python: Sequence[int] = sys.version_info[:2]) -> list[str]:
    return [f"onnxruntime=={pinned_version(python)}", numpy_requirement()]


def dependencies_dir(settings_dir: os.PathLike, python: Sequence[int] = sys.version_info[:2]) -> Path:
    """The plugin-private folder for ``python`` under the QGIS settings folder."""
    return Path(settings_dir) / FOLDER / f"py{python[0]}{python[1]}"


def activate(folder: os.PathLike) -> bool:
    """Put ``folder`` first on ``sys.path`` (it may hold a newer onnxruntime than the system's)."""
    path = str(folder)
    if not Path(path).is_dir():
        return False
    if path not in sys.path:
        sys.path.insert(0, path)
        import importlib

        importlib.invalidate_caches()
    return True


def python_candidates(executable: str, exec_prefix: str, platform: str,
                      version: Sequence[int] = sys.version_info[:2]) -> list[Path]:
    """Where QGIS's interpreter may be, most likely first, for ``platform`` (``sys.platform``)."""
    major, minor = version[:2]
    exe, prefix = Path(executable), Path(exec_prefix)
    if platform.startswith("win"):  # OSGeo4W / standalone: <root>/apps/Python3xx/python.exe
        return [prefix / "python.exe", prefix / "python3.exe", exe.parent / "python.exe",
                exe.parent / "python3.exe"]
    names = [f"python{major}.{minor}", f"python{major}", "python"]
    found = [exe] if exe.name.startswith("python") else []
    found += [prefix / "bin" / name for name in names]
    if platform == "darwin":  # QGIS.app/Contents/MacOS/{QGIS, bin/python3}
        found += [exe.parent / "bin" / name for name in names]
    found += [Path("/usr/bin") / name for name in names]
    return list(dict.fromkeys(found))


def _identity(python: Path) -> str | None:
    code = "import sys; print(sys.version_info[0], sys.version_info[1], sys.exec_prefix)"
    try:
        result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60,
                                creationflags=_NO_WINDOW, env=_child_env())
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_qgis_python(executable: str = sys.executable, exec_prefix: str = sys.exec_prefix,
                     platform: str = sys.platform) -> Path:
    """The interpreter of this QGIS: the first candidate that reports the same version and prefix."""
    want = f"{sys.version_info[0]} {sys.version_info[1]} {sys.exec_prefix}"
    tried = []
    for candidate in python_candidates(executable, exec_prefix, platform):
        if candidate.is_file():
            tried.append(str(candidate))
            if _identity(candidate) == want:
                return candidate
    raise InstallError(
        f"cannot find the Python interpreter of this QGIS (Python {sys.version_info[0]}.{sys.version_info[1]}, "
        f"prefix {sys.exec_prefix}; tried {', '.join(tried) or 'no existing candidate'}). "
        f"Install onnxruntime by hand: {manual_command(Path('python3'))}")


def manual_command(python: Path, target: Path | None = None) -> str:
    """The command a user can paste in a shell to do the same install."""
    command = [str(python), "-m", "pip", "install", *(["--target", str(target)] if target else ["--user"]),
               *requirements()]
    if sys.platform.startswith("win"):
        return subprocess.list2cmdline(command)
    return " ".join(shlex.quote(part) for part in command)


def pip_command(python: Path, target: Path) -> list[str]:
    """pip for ``python`` into ``target``: pinned versions, the user's pip configuration, no prompts."""
    return [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--progress-bar", "off", "--only-binary", ":all:", "--target", str(target), *requirements()]


def _child_env() -> dict[str, str]:
    """This process's environment (proxy, pip configuration, OSGeo4W paths) minus Python overrides."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONNOUSERSITE")}
    env["PYTHONNOUSERSITE"] = "1"  # the check must not see a --user onnxruntime
    return env


def verify(python: Path, folder: Path) -> str:
    """Import onnxruntime from ``folder`` in a fresh interpreter; returns its version and providers."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import onnxruntime, numpy; "
            "assert onnxruntime.__file__.startswith(sys.argv[1]), onnxruntime.__file__; "
            "print(onnxruntime.__version__, ','.join(onnxruntime.get_available_providers()))")
    try:
        result = subprocess.run([str(python), "-c", code, str(folder)], capture_output=True, text=True,
                                timeout=300, creationflags=_NO_WINDOW, env=_child_env())
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"could not start {python} to check the installed onnxruntime: {exc}") from exc
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no error message"])[-1]
        raise InstallError(f"onnxruntime was installed but does not import in QGIS's Python: {last}")
    version, providers = result.stdout.split()
    if needs_install(version):
        raise InstallError(f"the installed onnxruntime {version} is older than the plugin needs")
    return f"onnxruntime {version} (providers: {providers.replace(',', ', ')})"


def install(python: Path, target: Path, log: Callable[[str], None],
            canceled: Callable[[], bool] = lambda: False) -> str:
    """Run pip into a staging folder, verify, then replace ``target``; returns :func:`verify`'s text.

    ``log`` receives pip's output line by line; ``canceled`` is polled. On any failure the staging
    folder (:func:`~..contract.temp_files.atomic_folder`: also removed on SIGTERM, swept when stale) is
    removed, ``target`` is left as it was and :class:`InstallError` says why.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with temp_files.atomic_folder(target) as staging:
            command = pip_command(python, staging)
            log("$ " + " ".join(command))
            try:
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                           bufsize=1, creationflags=_NO_WINDOW, env=_child_env())
            except OSError as exc:
                raise InstallError(f"could not start pip with {python}: {exc}") from exc
            _follow(process, python, target, log, canceled)
            summary = verify(python, staging)
    except OSError as exc:  # the folder cannot be written or replaced (permissions, a file in use on Windows)
        raise InstallError(f"could not write {target}: {exc.strerror or exc}; nothing was changed") from exc
    return summary


def _follow(process: subprocess.Popen, python: Path, target: Path, log: Callable[[str], None],
            canceled: Callable[[], bool]) -> None:
    """Log pip's lines until it ends; raise :class:`InstallError` when it fails or ``canceled()``."""
    tail: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        while True:
            try:
                line = lines.get(timeout=0.2)  # short waits: cancel works even while pip is silent
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                log(line)
                tail = (tail + [line])[-6:]
            if canceled():
                raise InstallError("installation of onnxruntime cancelled; nothing was changed")
        if process.wait() != 0:
            raise InstallError("pip could not install onnxruntime (offline, proxy or no wheel for this "
                               f"platform?). pip said: {' | '.join(tail) or 'nothing'}. "
                               f"To install it by hand: {manual_command(python, target)}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(timeout=10)


def _read_lines(stream, lines: queue.Queue) -> None:
    """Forward ``stream``'s lines without their ends, then ``None`` at its end."""
    with stream:
        for line in stream:
            lines.put(line.rstrip())
    lines.put(None)
