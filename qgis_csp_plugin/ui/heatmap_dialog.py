"""Placeholder until the heatmap dialogs land: says so plainly."""

from ..core.errors import CspError


class HeatmapDialog:
    def __init__(self, iface, kind: str, parent=None) -> None:
        raise CspError(f"The {kind.replace('_', ' ')} heatmap is not available in this build yet.")
