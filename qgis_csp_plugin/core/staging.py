"""All-or-nothing output files: write under temporary names, rename together at the end."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from ..contract import temp_files
from ..contract.errors import GeoSslError

#: Files GDAL and QGIS keep beside a raster: statistics and category names, overviews, masks.
COMPANIONS = (".aux.xml", ".ovr", ".msk")
PREVIOUS = "previous"  # the old final file, kept in the temporary folder until every rename succeeded


def check_output_paths(paths: Iterable[str | os.PathLike]) -> None:
    """Refuse outputs that cannot be written as files, before anything is computed or touched: a path
    that is an existing folder, or one path given for two outputs."""
    seen: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            raise GeoSslError(f"the output {path} is an existing folder: give a file name; nothing was written")
        resolved = path.resolve()
        if resolved in seen:
            raise GeoSslError(f"{path} is given for two outputs: give each output its own file")
        seen.add(resolved)


class StagedOutputs:
    """Hands out temporary paths beside each final path; :meth:`commit` renames them all,
    :meth:`discard` (or an exception inside ``with``) deletes them, so no half-written file
    is ever visible under a final name. A GDAL ``.aux.xml`` sidecar moves with its file; stale
    companions of an older file under the final name are removed (:func:`replace_companions`)."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, Path]] = []

    def path(self, final: str | os.PathLike) -> Path:
        final = Path(final)
        try:
            check_output_paths([final, *(f for _, f, _ in self._staged)])
            final.parent.mkdir(parents=True, exist_ok=True)
            folder = temp_files.temp_folder(final)
        except GeoSslError:
            self.discard()
            raise
        except OSError as exc:
            self.discard()
            raise GeoSslError(f"cannot write in the folder {final.parent}: {exc.strerror or exc}") from exc
        staged = folder / temp_files.inner_name(final)
        self._staged.append((staged, final, folder))
        return staged

    def commit(self) -> None:
        """Rename every staged file to its final name; if one rename fails, put the previous files back
        (or remove the new ones where there was none) and raise :class:`GeoSslError` (e.g. an output open
        in another program on Windows). Companions are replaced once every file is in place."""
        done: list[tuple[Path, Path | None]] = []
        try:
            for staged, final, folder in self._staged:
                done.append((final, _keep_previous(final, folder / PREVIOUS)))
                os.replace(staged, final)
        except OSError as exc:
            for final, previous in reversed(done):
                if previous is not None:
                    os.replace(previous, final)
                else:
                    final.unlink(missing_ok=True)
            self.discard()
            raise GeoSslError(f"could not write {exc.filename or 'an output'}: {exc.strerror or exc}; "
                              "nothing was written, earlier files are unchanged (is one open in another "
                              "program?)") from exc
        try:
            for staged, final, _ in self._staged:
                replace_companions(staged, final)
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


def replace_companions(written: Path, final: Path) -> None:
    """After ``written`` was renamed to ``final``: its GDAL sidecar (category names, CRSs that GeoTIFF
    keys cannot express) follows it, and the companions of an older ``final`` (statistics, overviews,
    masks) are removed, which GDAL and QGIS would otherwise show with the new file."""
    for suffix in COMPANIONS:
        companion, own = Path(f"{final}{suffix}"), Path(f"{written}{suffix}")
        if suffix == ".aux.xml" and own.exists():
            os.replace(own, companion)
            continue
        try:
            companion.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:  # a name too long for a companion has none
                raise GeoSslError(f"wrote {final} but could not remove its stale {companion.name}: "
                                  f"{exc.strerror or exc}; delete it by hand") from exc


def _keep_previous(final: Path, backup: Path) -> Path | None:
    """Keep the file about to be replaced as ``backup`` (a hard link: ``final`` itself stays in place),
    so that a failed commit can put it back; ``None`` when there is none."""
    if not final.exists():
        return None
    try:
        os.link(final, backup)
    except OSError:  # a filesystem without hard links: move it aside instead
        os.replace(final, backup)
    return backup
