"""Progress and cancellation of long runs (classification, heatmaps), the same for both."""

from __future__ import annotations

from collections.abc import Callable

from ..contract.errors import GeoSslError

Progress = Callable[[float], None]
"""Receives the percentage done (0-100)."""
IsCanceled = Callable[[], bool]
"""Polled between batches: ``True`` stops the run with :class:`Canceled`."""


class Canceled(GeoSslError):
    """The user canceled a run; nothing was written."""


def part(progress: Progress | None, start: float, end: float) -> Progress | None:
    """``progress`` of a stage that covers ``start``–``end`` % of the whole run (``None`` stays ``None``)."""
    if progress is None:
        return None
    return lambda percent: progress(start + (end - start) * percent / 100.0)
