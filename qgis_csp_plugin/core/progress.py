"""Progress and cancellation of long runs (classification, heatmaps), the same for both."""

from __future__ import annotations

from collections.abc import Callable

from ..contract.errors import CspError

Progress = Callable[[float], None]
"""Receives the percentage done (0-100)."""
IsCanceled = Callable[[], bool]
"""Polled between batches: ``True`` stops the run with :class:`Canceled`."""


class Canceled(CspError):
    """The user canceled a run; nothing was written."""
