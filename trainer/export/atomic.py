"""Atomic file output: write to a temporary ``*.part`` beside the target, rename only on success."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o644


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on a clean exit it replaces ``path`` atomically.

    On any exception (or a kill) the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{path.suffix}.part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(FILE_MODE)  # mkstemp creates 0600; models are shared and packaged
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
