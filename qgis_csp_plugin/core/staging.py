"""All-or-nothing output files: write under temporary names, rename together at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..contract.errors import CspError


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
        """Rename every staged file to its final name; if one rename fails, remove those already
        renamed and raise :class:`CspError` (e.g. an output open in another program on Windows)."""
        done: list[Path] = []
        try:
            for staged, final, _ in self._staged:
                os.replace(staged, final)
                done.append(final)
        except OSError as exc:
            for final in done:
                final.unlink(missing_ok=True)
            raise CspError(f"could not write {exc.filename or 'an output'}: {exc.strerror or exc}; "
                           "nothing was written (is the file open in another program?)") from exc
        finally:
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
