"""What the plugin makes: the heatmap kinds and the kinds of Classify output (each equal to its string value,
like the model kinds of :class:`~..contract.schema.Kind`)."""

from __future__ import annotations

from enum import Enum

from ..contract.errors import GeoSslError


class HeatmapKind(str, Enum):
    """A heatmap: a location encoder's embedding, a location prior's P(y|location), or a Classify result's
    tile probabilities."""

    LOCATION_EMBEDDING = "location_embedding"
    CLASS_PRIOR = "class_prior"
    PREDICTION = "prediction"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: str) -> HeatmapKind:
        """``value`` as a heatmap kind; :class:`GeoSslError` for an unknown one."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(k.value for k in cls)
            raise GeoSslError(f"unknown heatmap kind {value!r}: choose one of {choices}") from None


class OutputKind(str, Enum):
    """An output of Classify: the tile polygons, the class-id raster or the probability raster."""

    VECTOR = "vector"
    CLASSES = "classes"
    PROBABILITY = "probability"

    def __str__(self) -> str:
        return self.value
