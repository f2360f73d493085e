"""GDAL calls whose failures read the same whether GDAL's Python exceptions are on or off.

``qgis_process`` runs with them on (QGIS's GDAL provider turns them on), a plain Python session or
desktop QGIS may have them off: a failed write then raises ``RuntimeError`` in one state and only sets
GDAL's error state in the other. The plugin's writers ask these helpers for GDAL's message instead of
relying on either state.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from osgeo import gdal

UNKNOWN = "GDAL reported an error"


def gdal_call(function: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """``(result, None)``, or ``(result or None, GDAL's message)`` when the call failed."""
    gdal.ErrorReset()
    try:
        result = function(*args)
    except RuntimeError as exc:  # exceptions on
        return None, str(exc) or gdal.GetLastErrorMsg() or UNKNOWN
    if gdal.GetLastErrorType() >= gdal.CE_Failure:  # exceptions off
        return result, gdal.GetLastErrorMsg() or UNKNOWN
    return result, None


@contextmanager
def destructor_errors() -> Iterator[list[str]]:
    """Collect the GDAL errors raised while a dataset is deleted (GDAL < 3.8 has no ``Close()``: with
    exceptions on, closing raises inside the destructor, which Python would print as "Exception ignored")."""
    caught: list[str] = []
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, RuntimeError):
            caught.append(str(unraisable.exc_value) or UNKNOWN)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield caught
    finally:
        sys.unraisablehook = previous
