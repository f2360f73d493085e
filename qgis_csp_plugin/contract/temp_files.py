"""Hidden temporary outputs of our own naming: unique per run, removed on SIGTERM, swept when stale.

Every writer (GeoTIFFs, staged Classify outputs, the trainer's exports) writes to
``.<final name>.<pid>-<random>.part`` beside the final file (a file, or a folder holding it) and
renames it on success. Two runs to one output never share a temporary name. A SIGTERM removes the
temporaries of the process before it dies; a SIGKILL cannot be caught, so the next write to the
same output removes temporaries whose process is gone (:func:`sweep_stale`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

SUFFIX = ".part"
STALE_AGE_S = 24 * 3600  # Windows, where a process cannot be probed safely

_live: set[Path] = set()
_lock = threading.Lock()


def temp_file(final: Path) -> Path:
    """A new empty hidden file beside ``final`` (registered for removal on SIGTERM)."""
    sweep_stale(final)
    fd, name = tempfile.mkstemp(prefix=_prefix(final), suffix=SUFFIX, dir=final.parent)
    os.close(fd)
    return register(Path(name))


def temp_folder(final: Path) -> Path:
    """A new hidden folder beside ``final`` (registered for removal on SIGTERM)."""
    sweep_stale(final)
    return register(Path(tempfile.mkdtemp(prefix=_prefix(final), suffix=SUFFIX, dir=final.parent)))


def register(path: Path) -> Path:
    with _lock:
        _live.add(path)
    return path


def release(path: Path) -> None:
    """Forget ``path`` (renamed into place, or removed)."""
    with _lock:
        _live.discard(path)


def remove(path: Path) -> None:
    """Delete a temporary file or folder and its GDAL sidecar; never raises."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    Path(f"{path}.aux.xml").unlink(missing_ok=True)
    release(path)


def sweep_stale(final: Path) -> list[Path]:
    """Remove temporaries of ``final`` left by processes that no longer run (e.g. after a SIGKILL)."""
    pattern = re.compile(re.escape(f".{final.name}.") + r"(\d+)-[^/\\]*" + re.escape(SUFFIX) + r"(\.aux\.xml)?$")
    removed = []
    if not final.parent.is_dir():
        return removed
    for path in final.parent.iterdir():
        match = pattern.match(path.name)
        if match and _is_stale(path, int(match.group(1))):
            remove(path)
            removed.append(path)
    return removed


def install_sigterm_cleanup() -> bool:
    """On SIGTERM remove this process's live temporaries, then die as SIGTERM would.

    Installed only from the main thread and only over the default handler (never replaces a
    handler someone else set, e.g. an application's own). Returns whether it is installed.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return True
    if current is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def _on_sigterm(signum, frame) -> None:
    with _lock:
        paths = list(_live)
    for path in paths:
        remove(path)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _prefix(final: Path) -> str:
    return f".{final.name}.{os.getpid()}-"


def _is_stale(path: Path, pid: int) -> bool:
    if pid == os.getpid():
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        try:
            return time.time() - path.stat().st_mtime > STALE_AGE_S
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False
