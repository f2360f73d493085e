"""Atomic file output of the trainer's exports: :func:`qgis_csp_plugin.contract.temp_files.atomic_file` (a
temporary ``.<name>.<pid>-<random>.part`` beside the target, renamed over it only on success; removed on any
exception or SIGTERM; after a SIGKILL, swept by the next write to the same target), with the target's folder
created and a clear error when it cannot be written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from qgis_csp_plugin.contract.temp_files import atomic_file
from trainer.errors import TrainerError


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on a clean exit it replaces ``path`` atomically, otherwise
    ``path`` is left untouched."""
    path = Path(path)
    with ExitStack() as stack:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = stack.enter_context(atomic_file(path))
        except OSError as exc:
            raise TrainerError(f"cannot write {path}: {exc.strerror or exc}") from exc
        yield temporary
