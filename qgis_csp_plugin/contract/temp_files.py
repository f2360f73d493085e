"""Hidden temporary outputs of our own naming: unique per run, removed on SIGTERM, swept when stale.

Every writer (GeoTIFFs, staged Classify outputs, the trainer's exports) writes to
``.<final name>.<pid>-<random>.part`` beside the final file (a file, or a folder holding it) and
renames it on success. Two runs to one output never share a temporary name. A SIGTERM removes the
temporaries of the process before it dies; a SIGKILL cannot be caught, so the next write to the
same output removes temporaries whose process is gone (:func:`sweep_stale`).

Temporary files are created with the mode the umask gives (0644 typically), like any other output,
so a renamed output keeps it. Temporary names keep at most :data:`KEPT_NAME_BYTES` of the final name
(never shortening the final name itself), so that every legal output name (up to 255 bytes) gives a
temporary whose name, sidecars and SQLite journals fit in 255 bytes, and whose path is no longer than
the output's (SQLite refuses paths over 512 bytes).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

SUFFIX = ".part"
STALE_AGE_S = 24 * 3600  # Windows, where a process cannot be probed safely
#: bytes of the final name a temporary name keeps (255 is the limit of one name on ext4, NTFS, APFS)
KEPT_NAME_BYTES = 100
_RANDOM_HEX = 8

_live: set[Path] = set()
_lock = threading.Lock()


def temp_file(final: Path) -> Path:
    """A new empty hidden file beside ``final`` (registered for removal on SIGTERM), with the mode the
    umask gives (not mkstemp's 0600)."""
    return _create(final, lambda path: os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)))


def temp_folder(final: Path) -> Path:
    """A new hidden folder beside ``final`` (registered for removal on SIGTERM)."""
    return _create(final, lambda path: os.mkdir(path, 0o700))


def inner_name(final: Path) -> str:
    """The name of ``final``'s file inside its temporary folder: ``final``'s own name, shortened to
    :data:`KEPT_NAME_BYTES` (keeping its suffix) when longer."""
    if len(_utf8(final.name)) <= KEPT_NAME_BYTES:
        return final.name
    return _shortened(final.stem, KEPT_NAME_BYTES - len(_utf8(final.suffix))) + final.suffix


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
    pattern = re.compile(re.escape(f".{_short_name(final)}.") + r"(\d+)-[^/\\]*" + re.escape(SUFFIX)
                         + r"(\.aux\.xml)?$")
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


def _create(final: Path, make) -> Path:
    """``make(path)`` at a new unique temporary name of ``final`` (retried if the name is taken)."""
    sweep_stale(final)
    while True:
        path = final.parent / f".{_short_name(final)}.{os.getpid()}-{secrets.token_hex(_RANDOM_HEX // 2)}{SUFFIX}"
        try:
            make(path)
        except FileExistsError:
            continue
        return register(path)


def _short_name(final: Path) -> str:
    """``final``'s name as its temporary names show it (at most :data:`KEPT_NAME_BYTES`)."""
    return _shortened(final.name, KEPT_NAME_BYTES)


def _shortened(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` bytes of UTF-8 (never inside a character)."""
    encoded = _utf8(name)
    return name if len(encoded) <= limit else encoded[:limit].decode("utf-8", "ignore")


def _utf8(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


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
