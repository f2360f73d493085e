"""Placeholder until the "Classify layer" dialog lands: says so plainly."""

from ..core.errors import CspError


class ClassifyDialog:
    def __init__(self, iface, parent=None) -> None:
        raise CspError("Classify layer is not available in this build yet.")
