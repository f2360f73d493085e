"""Hidden temporary outputs of our own naming: unique per run, removed on SIGTERM, swept when stale.

Every atomic write of the plugin and the trainer (GeoTIFFs, staged Classify outputs, the onnxruntime
install, the trainer's exports, shards and caches) writes to ``.<final name>.<pid>-<random>.part`` beside
the final file or folder and renames it on success: :func:`atomic_file` and :func:`atomic_folder` do the
whole round; :func:`temp_file` and :func:`temp_folder` hand out the temporary for writers that rename it
themselves. Two runs to one output never share a temporary name. A SIGTERM removes the temporaries of the
process before it dies (:func:`install_sigterm_cleanup`); a SIGKILL cannot be caught, so the next write to
the same output removes temporaries whose process is gone (:func:`sweep_stale`), and a program can sweep
a whole folder at start-up (:func:`sweep_folder`). A forked child inherits the SIGTERM cleanup but none of
its parent's temporaries.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUFFIX = ".part"
STALE_AGE_S = 24 * 3600  # Windows, where a process cannot be probed safely
#: bytes of the final name a temporary name keeps (255 is the limit of one name on ext4, NTFS, APFS)
KEPT_NAME_BYTES = 100
_RANDOM_HEX = 8

_live: set[Path] = set()
_lock = threading.Lock()


def _forget_parents_temporaries() -> None:
    """In a forked child (e.g. a DataLoader worker): the parent's temporaries are the parent's to remove (a
    SIGTERM that stops the child must not delete what the parent is still writing)."""
    global _lock
    _lock = threading.Lock()  # (another thread may have held it at the fork)
    _live.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_parents_temporaries)


def temp_file(final: Path) -> Path:
    """A new empty hidden file beside ``final`` (registered for removal on SIGTERM), with the mode the
    umask gives (not mkstemp's 0600)."""
    return _create(final, lambda path: os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)))


def temp_folder(final: Path) -> Path:
    """A new hidden folder beside ``final`` (registered for removal on SIGTERM)."""
    return _create(final, lambda path: os.mkdir(path, 0o700))


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """A new temporary file beside ``final`` to write; renamed over ``final`` when the block ends without an
    exception, removed otherwise (``final`` is then untouched)."""
    temp = temp_file(final)
    try:
        yield temp
        os.replace(temp, final)
    finally:
        remove(temp)


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """A new temporary folder beside ``final`` to fill; when the block ends without an exception it takes
    ``final``'s place (a previous ``final`` is removed once the new one is in place, and put back if that
    fails), otherwise it is removed (``final`` is then untouched)."""
    staged = temp_folder(final)
    try:
        yield staged
        _replace_folder(staged, final)
    finally:
        remove(staged)


def _replace_folder(staged: Path, final: Path) -> None:
    """Rename ``staged`` to ``final``; an existing ``final`` is moved into a temporary folder first (a folder
    cannot be renamed over a non-empty one) and removed after."""
    if not (final.exists() or final.is_symlink()):
        os.replace(staged, final)
        return
    previous = temp_folder(final)
    try:
        os.replace(final, previous / final.name)
        try:
            os.replace(staged, final)
        except OSError:
            os.replace(previous / final.name, final)
            raise
    finally:
        remove(previous)


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
    return _sweep(final.parent, re.escape(f".{_short_name(final)}."))


def sweep_folder(folder: Path) -> list[Path]:
    """Remove the temporaries of every output in ``folder`` left by processes that no longer run (a
    start-up sweep of an output or cache folder)."""
    return _sweep(folder, r"\..+\.")


def _sweep(folder: Path, name_pattern: str) -> list[Path]:
    pattern = re.compile(name_pattern + r"(\d+)-[^/\\]*" + re.escape(SUFFIX) + r"(\.aux\.xml)?$")
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
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
