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
def closing_errors() -> Iterator[list[str]]:
    """GDAL's errors while a dataset is closed inside the block (by deleting its last reference, which
    works in every GDAL version): raised in the destructor with exceptions on (Python would only print
    "Exception ignored"), or left in GDAL's error state with exceptions off. Empty when closing worked."""
    caught: list[str] = []
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, RuntimeError):
            caught.append(str(unraisable.exc_value) or UNKNOWN)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    gdal.ErrorReset()
    try:
        yield caught
    finally:
        sys.unraisablehook = previous
        if not caught and gdal.GetLastErrorType() >= gdal.CE_Failure:
            caught.append(gdal.GetLastErrorMsg() or UNKNOWN)
