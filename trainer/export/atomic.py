"""Atomic file output: write to a temporary ``*.part`` beside the target, rename only on success.

Temporary names are unique per run and removed on SIGTERM; those a SIGKILL leaves are swept by the
next write to the same target (:mod:`qgis_csp_plugin.core.temp_files`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qgis_csp_plugin.contract import temp_files
from trainer.errors import TrainerError


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on a clean exit it replaces ``path`` atomically.

    On any exception or SIGTERM the temporary file is removed and ``path`` is left untouched; after
    a SIGKILL the next write to ``path`` removes it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_files.temp_file(path)
    except OSError as exc:
        raise TrainerError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        temp_files.remove(tmp)
