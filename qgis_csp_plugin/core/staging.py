"""All-or-nothing output files: write under temporary names, rename together at the end."""

from __future__ import annotations

import os
from pathlib import Path

from ..contract import temp_files
from ..contract.errors import CspError


class StagedOutputs:
    """Hands out temporary paths beside each final path; :meth:`commit` renames them all,
    :meth:`discard` (or an exception inside ``with``) deletes them, so no half-written file
    is ever visible under a final name. A GDAL ``.aux.xml`` sidecar moves with its file; a stale
    sidecar of an older file under the final name is removed (its statistics would be wrong)."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, Path]] = []

    def path(self, final: str | os.PathLike) -> Path:
        final = Path(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            folder = temp_files.temp_folder(final)
        except OSError as exc:
            self.discard()
            raise CspError(f"cannot write in the folder {final.parent}: {exc.strerror or exc}") from exc
        staged = folder / final.name
        self._staged.append((staged, final, folder))
        return staged

    def commit(self) -> None:
        """Rename every staged file (and its GDAL ``.aux.xml`` sidecar: category names, CRSs GeoTIFF
        keys cannot express) to its final name; if one rename fails, remove those already renamed and
        raise :class:`CspError` (e.g. an output open in another program on Windows)."""
        done: list[Path] = []
        try:
            for staged, final, _ in self._staged:
                os.replace(staged, final)
                done.append(final)
                _replace_sidecar(staged, final)
        except OSError as exc:
            for final in done:
                final.unlink(missing_ok=True)
            raise CspError(f"could not write {exc.filename or 'an output'}: {exc.strerror or exc}; "
                           "nothing was written (is the file open in another program?)") from exc
        finally:
            self.discard()

    def discard(self) -> None:
        for _, _, folder in self._staged:
            temp_files.remove(folder)
        self._staged = []

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()


def _replace_sidecar(staged: Path, final: Path) -> None:
    sidecar = Path(f"{final}.aux.xml")
    staged_sidecar = Path(f"{staged}.aux.xml")
    if staged_sidecar.exists():
        os.replace(staged_sidecar, sidecar)
    else:
        sidecar.unlink(missing_ok=True)
