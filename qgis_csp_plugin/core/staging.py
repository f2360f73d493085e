"""All-or-nothing output files: write under temporary names, rename together at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class StagedOutputs:
    """Hands out temporary paths beside each final path; :meth:`commit` renames them all,
    :meth:`discard` (or an exception inside ``with``) deletes them, so no half-written file
    is ever visible under a final name."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, Path]] = []

    def path(self, final: str | os.PathLike) -> Path:
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
        staged = folder / final.name
        self._staged.append((staged, final, folder))
        return staged

    def commit(self) -> None:
        for staged, final, _ in self._staged:
            os.replace(staged, final)
        self.discard()

    def discard(self) -> None:
        for _, _, folder in self._staged:
            shutil.rmtree(folder, ignore_errors=True)
        self._staged = []

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
