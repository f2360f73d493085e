"""The single model-metadata schema shared by the trainer's exporter and the QGIS plugin.

An exported ONNX model carries its description in ``metadata_props``: every value is a JSON
document, keys are the field names below plus the marker ``geossl_schema_version``. This module
is pure Python (no Qt, no torch, no onnx) so that both sides import it.

Conventions fixed by the schema (version 3; version 1 and 2 files, without ``prior_exponent`` or the
version-3 fields, still load):

* image models take ``image``: float32 ``(N, C, H, W)`` *raw* pixel values in the order of
  ``bands``; normalisation happens inside the graph (``normalization.in_graph``).
* location models take ``latlon``: float32 ``(N, 2)`` with columns **(lat, lon) in degrees**.
* image models may take ``extra_inputs`` (version 3): ``band_mask`` float32 ``(C,)`` (1 = the band is
  missing, fed as zeros and masked), ``latlon`` float32 ``(N, 2)`` (the tile centres) and ``month``
  int64 ``(N,)`` (calendar month 1-12 of the acquisition); ``spectral`` then says which bands are
  maskable, in which groups, at which wavelengths, and whether the model embeds pixels or tiles.
* an ``image_classifier`` with ``dense_pixels`` (version 3, optional) is a pixel encoder + the plugin's
  feature head (:mod:`qgis_csp_plugin.core.onnx_head`): Classify can map every pixel from per-pixel
  embeddings (:mod:`qgis_csp_plugin.core.pixel_map`) instead of one tile per pixel.
* classifiers output ``probabilities`` ``(N, n_classes)``; image and location encoders output
  ``embedding`` ``(N, embedding_dim)``.

Besides the schema fields, the exporter writes ``geossl_export`` (:data:`EXPORT_REPORT_KEY`): how the
file was produced (precision, torch/onnxruntime parity, accuracy change of fp16/int8 variants). It is
informational, not part of :class:`ModelMetadata`, and read by :class:`~.onnx_model.OnnxModel`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from .errors import GeoSslError

SCHEMA_VERSION = 3
#: Versions this plugin reads: version 1 lacks ``prior_exponent`` (read as α = 1, see :mod:`.prior_exponent`),
#: versions 1 and 2 lack ``spectral``, ``extra_inputs``, ``source_band_labels`` and the ``reflectance`` radiometry.
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
SCHEMA_MARKER = "geossl_schema_version"
EXPORT_REPORT_KEY = "geossl_export"
MAX_NESTING = 32  # levels of lists/dicts in one metadata value (deeper JSON would exhaust Python's recursion)
COORDINATE_ORDER = "lat,lon"
RADIOMETRY = ("absolute", "layer_statistics", "layer_percentiles", "reflectance")
IMAGE_INPUT = "image"
LATLON_INPUT = "latlon"
BAND_MASK_INPUT = "band_mask"
MONTH_INPUT = "month"
#: The month fed to a model with a ``month`` input when a layer carries no acquisition date: mid-year (July),
#: the month the authors' Galileo evaluation assumes.
DEFAULT_MONTH = 7
#: Inputs an image model may take besides ``image`` (version 3), in this order.
EXTRA_INPUTS = (BAND_MASK_INPUT, LATLON_INPUT, MONTH_INPUT)
#: What an image model embeds: each pixel's spectrum (a tile's embedding is the mean over its pixels),
#: or whole tiles.
CONSUMES = ("pixels", "tiles")
PROBABILITIES_OUTPUT = "probabilities"
EMBEDDING_OUTPUT = "embedding"


class Kind(str, Enum):
    """What an exported model is; equal to its string value (``Kind.FUSED == "fused"``)."""

    IMAGE_CLASSIFIER = "image_classifier"
    IMAGE_ENCODER = "image_encoder"
    LOCATION_ENCODER = "location_encoder"
    LOCATION_PRIOR = "location_prior"
    FUSED = "fused"

    def __str__(self) -> str:
        return self.value


KINDS = tuple(kind.value for kind in Kind)


class MetadataError(GeoSslError, ValueError):
    """Model metadata is missing, malformed or from an unknown schema version."""


@dataclass
class Normalization:
    """Per-band statistics applied as ``(x - mean) / std`` to raw pixel values.

    ``radiometry="reflectance"`` (version 3): the graph takes surface or top-of-atmosphere reflectance
    times ``reflectance_scale`` (10000: Sentinel-2 digital numbers) and normalises it its own way;
    ``mean``/``std`` are then the typical values of the encoder's training data in those units, used to
    bring imagery of unknown scale (8-bit) to them. ``radiometry="absolute"``: pixel values are in the
    training data's units (e.g. Sentinel-2 L1C digital numbers) and are fed as is.
    ``"layer_statistics"``: the layer's own per-band mean/std are matched to the training mean/std
    first (for sensors with other units, e.g. 8-bit RGB), see :mod:`.radiometry`.
    ``"layer_percentiles"``: the layer's per-band percentiles ``percentiles.q`` (e.g. 2 and 98) are
    matched to the training ones (``percentiles.low``/``high``), robust to nodata fill values and outliers.
    """

    mean: list[float]
    std: list[float]
    in_graph: bool = True
    radiometry: str = "absolute"
    percentiles: dict[str, list[float]] | None = None
    reflectance_scale: float | None = None


@dataclass
class Spectral:
    """How an image model reads bands (version 3): maskable groups, wavelengths, pixels or tiles.

    ``band_groups``: bands used together; a group is used only when all its bands are present, else the
    whole group is masked. ``derived``: inputs computed in the graph (e.g. NDVI from B08 and B04), used
    when all their bands are present. ``required_bands`` must be present. ``masked_bands``: bands the
    model was trained with masked (a classifier built on the encoder); Classify masks them again.
    ``patch_size``: tile models need H and W to be multiples of it.
    """

    consumes: str
    wavelengths_nm: list[float]
    band_groups: dict[str, list[str]] = field(default_factory=dict)
    required_bands: list[str] = field(default_factory=list)
    derived: dict[str, list[str]] = field(default_factory=dict)
    patch_size: int | None = None
    timesteps: int = 1
    masked_bands: list[str] = field(default_factory=list)


@dataclass
class PcaBasis:
    """Three principal components of the location embedding, for the embedding heatmap."""

    mean: list[float]
    components: list[list[float]]
    low: list[float]
    high: list[float]


@dataclass
class ModelMetadata:
    """Everything a consumer needs to use an exported model with nothing else beside it."""

    kind: Kind
    name: str
    description: str = ""
    class_names: list[str] = field(default_factory=list)
    class_colors: list[str] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)
    tile_size: int | None = None
    gsd_m: float | None = None
    overlap: float = 0.0
    normalization: Normalization | None = None
    output_activation: str = "softmax"
    location_encoder: dict[str, Any] | None = None
    embedding_dim: int | None = None
    pca_basis: PcaBasis | None = None
    prior_exponent: float | None = None
    spectral: Spectral | None = None
    extra_inputs: list[str] = field(default_factory=list)
    source_band_labels: list[str | None] | None = None
    dense_pixels: bool = False
    coordinate_order: str = COORDINATE_ORDER
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    trainer_version: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind in KINDS:
            self.kind = Kind(self.kind)
        if isinstance(self.normalization, dict):
            self.normalization = Normalization(**_known(Normalization, self.normalization))
        if isinstance(self.pca_basis, dict):
            self.pca_basis = PcaBasis(**_known(PcaBasis, self.pca_basis))
        if isinstance(self.spectral, dict):
            self.spectral = Spectral(**_known(Spectral, self.spectral))
        self.validate()

    @property
    def has_image_input(self) -> bool:
        return self.kind in (Kind.IMAGE_CLASSIFIER, Kind.IMAGE_ENCODER, Kind.FUSED)

    @property
    def has_location_input(self) -> bool:
        return self.kind in (Kind.LOCATION_ENCODER, Kind.LOCATION_PRIOR, Kind.FUSED)

    @property
    def is_classifier(self) -> bool:
        """Every kind but the (image or location) encoders outputs class probabilities."""
        return self.kind not in (Kind.IMAGE_ENCODER, Kind.LOCATION_ENCODER)

    @property
    def input_names(self) -> list[str]:
        """The graph's inputs: ``image`` and/or ``latlon``, then the ``extra_inputs``."""
        names = [IMAGE_INPUT] * self.has_image_input + [LATLON_INPUT] * self.has_location_input
        return names + [name for name in self.extra_inputs if name not in names]

    @property
    def output_name(self) -> str:
        """The graph output a consumer reads: ``probabilities`` or ``embedding``."""
        return PROBABILITIES_OUTPUT if self.is_classifier else EMBEDDING_OUTPUT

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def validate(self) -> None:
        """Raise :class:`MetadataError` naming the first field that is wrong."""
        if self.schema_version not in READABLE_SCHEMA_VERSIONS:
            raise MetadataError(
                f"model metadata schema version {self.schema_version!r} is not supported "
                f"(this plugin reads versions {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}); "
                "re-export the model or update the plugin"
            )
        _check(self.kind in KINDS, f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        _check(isinstance(self.name, str) and self.name.strip() != "", "name must be a non-empty string")
        _check(self.coordinate_order == COORDINATE_ORDER,
               f"coordinate_order must be {COORDINATE_ORDER!r} (degrees), got {self.coordinate_order!r}")
        _check(self.output_activation in ("softmax", "sigmoid"),
               f"output_activation {self.output_activation!r} is not softmax or sigmoid")
        _check(isinstance(self.overlap, (int, float)) and 0.0 <= self.overlap < 1.0,
               f"overlap {self.overlap!r} must be a fraction in [0, 1)")
        _check(_str_list(self.class_names), "class_names must be a list of strings")
        if self.class_colors:
            _check(_str_list(self.class_colors) and len(self.class_colors) == len(self.class_names),
                   "class_colors must hold one '#rrggbb' string per class")
        if self.is_classifier:
            _check(len(self.class_names) >= 2, f"a {self.kind} model needs at least two class_names")
            _check(len(set(self.class_names)) == len(self.class_names), "class_names must be unique")
        if self.has_image_input:
            self._validate_image_fields()
        else:
            _check(not self.extra_inputs and self.spectral is None and self.source_band_labels is None,
                   "extra_inputs, spectral and source_band_labels are only meaningful for image models")
        _check(isinstance(self.dense_pixels, bool), "dense_pixels must be true or false")
        if self.dense_pixels:
            _check(self.kind == Kind.IMAGE_CLASSIFIER and self.spectral is not None
                   and self.spectral.consumes == "pixels",
                   "dense_pixels (maps of every pixel) needs an image_classifier on a pixel encoder "
                   "(spectral.consumes = pixels)")
        if self.has_location_input:
            _check(isinstance(self.location_encoder, dict) and "name" in self.location_encoder,
                   "location_encoder must be a dict with at least 'name' and 'params'")
        if not self.is_classifier:
            _check(isinstance(self.embedding_dim, int) and self.embedding_dim > 0,
                   f"a {self.kind} model needs a positive integer embedding_dim")
        if self.kind == Kind.LOCATION_ENCODER and self.pca_basis is not None:
            self._validate_pca()
        if self.prior_exponent is not None:
            _check(self.kind == Kind.LOCATION_PRIOR, "prior_exponent is only meaningful for a location_prior")
            _check(isinstance(self.prior_exponent, (int, float)) and not isinstance(self.prior_exponent, bool)
                   and 0.0 <= self.prior_exponent < float("inf"),
                   f"prior_exponent {self.prior_exponent!r} must be a finite number >= 0")

    def _validate_image_fields(self) -> None:
        _check(_str_list(self.bands) and len(self.bands) > 0, "bands must list the input band names")
        _check(isinstance(self.tile_size, int) and self.tile_size > 0, "tile_size must be a positive integer")
        _check(isinstance(self.gsd_m, (int, float)) and self.gsd_m > 0,
               "gsd_m (ground sample distance, metres/pixel) must be a positive number")
        norm = self.normalization
        _check(isinstance(norm, Normalization), "normalization (mean/std per band) is required")
        assert isinstance(norm, Normalization)
        _check(len(norm.mean) == len(self.bands) and len(norm.std) == len(self.bands),
               f"normalization mean/std must have one value per band ({len(self.bands)})")
        _check(all(float(s) > 0 for s in norm.std), "normalization std values must be > 0")
        _check(norm.radiometry in RADIOMETRY, f"normalization.radiometry must be one of {RADIOMETRY}")
        if norm.radiometry == "layer_percentiles" or norm.percentiles is not None:
            self._validate_percentiles(norm.percentiles)
        if norm.radiometry == "reflectance":
            _check(isinstance(norm.reflectance_scale, (int, float)) and norm.reflectance_scale > 0,
                   "normalization.reflectance_scale (image value of reflectance 1.0) must be a positive number")
        _check(_str_list(self.extra_inputs) and set(self.extra_inputs) <= set(EXTRA_INPUTS)
               and len(set(self.extra_inputs)) == len(self.extra_inputs),
               f"extra_inputs must be distinct names among {', '.join(EXTRA_INPUTS)}")
        _check(BAND_MASK_INPUT not in self.extra_inputs or self.spectral is not None,
               "a model with a band_mask input needs 'spectral' (its band groups)")
        if self.spectral is not None:
            self._validate_spectral(self.spectral)
        if self.source_band_labels is not None:
            labels = self.source_band_labels
            _check(isinstance(labels, list) and len(labels) == len(self.bands)
                   and all(label is None or isinstance(label, str) for label in labels),
                   f"source_band_labels must hold one layer band label (or null) per band ({len(self.bands)})")

    def _validate_spectral(self, spectral: Spectral) -> None:
        bands = set(self.bands)
        _check(spectral.consumes in CONSUMES, f"spectral.consumes must be one of {', '.join(CONSUMES)}")
        _check(isinstance(spectral.wavelengths_nm, list) and len(spectral.wavelengths_nm) == len(self.bands)
               and all(isinstance(w, (int, float)) and w > 0 for w in spectral.wavelengths_nm),
               f"spectral.wavelengths_nm must hold one positive wavelength per band ({len(self.bands)})")
        grouped = [band for members in spectral.band_groups.values() for band in members]
        _check(set(grouped) <= bands and len(grouped) == len(set(grouped)),
               "spectral.band_groups must name bands of 'bands', each in at most one group")
        _check(set(spectral.required_bands) <= bands and set(spectral.masked_bands) <= bands
               and not set(spectral.required_bands) & set(spectral.masked_bands),
               "spectral.required_bands and masked_bands must be disjoint sets of bands of 'bands'")
        _check(all(set(sources) <= bands for sources in spectral.derived.values()),
               "spectral.derived inputs must be computed from bands of 'bands'")
        _check(isinstance(spectral.timesteps, int) and spectral.timesteps >= 1, "spectral.timesteps must be >= 1")
        if spectral.patch_size is not None:
            _check(isinstance(spectral.patch_size, int) and spectral.patch_size > 0
                   and self.tile_size % spectral.patch_size == 0,
                   f"spectral.patch_size must be a positive divisor of tile_size ({self.tile_size})")

    def _validate_percentiles(self, percentiles: Any) -> None:
        _check(isinstance(percentiles, dict) and {"q", "low", "high"} <= set(percentiles),
               "normalization.percentiles must be {q: [low q, high q], low: [per band], high: [per band]}")
        q, low, high = percentiles["q"], percentiles["low"], percentiles["high"]
        _check(isinstance(q, list) and len(q) == 2 and 0 <= q[0] < q[1] <= 100,
               f"normalization.percentiles.q {q!r} must be two increasing percentiles in [0, 100]")
        _check(isinstance(low, list) and isinstance(high, list) and len(low) == len(high) == len(self.bands),
               f"normalization.percentiles low/high must have one value per band ({len(self.bands)})")
        _check(all(float(h) > float(lo) for lo, h in zip(low, high)),
               "normalization.percentiles high values must exceed the low values")

    def _validate_pca(self) -> None:
        pca = self.pca_basis
        assert pca is not None
        dim = self.embedding_dim
        _check(len(pca.mean) == dim, f"pca_basis.mean must have embedding_dim={dim} values")
        _check(len(pca.components) == 3 and all(len(c) == dim for c in pca.components),
               f"pca_basis.components must be 3 rows of {dim} values")
        _check(len(pca.low) == 3 and len(pca.high) == 3, "pca_basis.low/high must have 3 values")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_props(self) -> dict[str, str]:
        """Key/value strings for ONNX ``metadata_props`` (values JSON-encoded)."""
        props = {key: json.dumps(value) for key, value in self.to_dict().items() if key != "schema_version"}
        props[SCHEMA_MARKER] = json.dumps(self.schema_version)
        return props

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        for key in ("kind", "name"):
            if key not in data:
                raise MetadataError(f"model metadata lacks the required key {key!r}")
        try:
            return cls(**_known(cls, data))
        except TypeError as exc:
            raise MetadataError(f"model metadata has a field of the wrong type: {exc}") from exc

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMetadata:
        """Parse ONNX ``metadata_props``; raises :class:`MetadataError` if not a geo-SSL model."""
        if SCHEMA_MARKER not in props:
            raise MetadataError(
                f"this ONNX file has no '{SCHEMA_MARKER}' metadata: it was not exported by "
                "`python -m trainer export` (geo-SSL for QGIS)"
            )
        data: dict[str, Any] = {}
        wanted = {f.name for f in fields(cls)} | {SCHEMA_MARKER}
        for key, raw in props.items():
            if key not in wanted:  # other tools' keys (e.g. onnxruntime.quantization's) are not JSON
                continue
            try:
                data[key] = json.loads(raw)
            except (TypeError, ValueError, RecursionError) as exc:
                raise MetadataError(f"metadata key {key!r} is not valid JSON (or nests too deeply): {raw!r:.80}")\
                    from exc
            if _nesting(data[key]) > MAX_NESTING:
                raise MetadataError(f"metadata key {key!r} nests lists/dicts more than {MAX_NESTING} levels deep")
        data["schema_version"] = data.pop(SCHEMA_MARKER)
        return cls.from_dict(data)

    def describe(self) -> str:
        """Human-readable multi-line summary (CLI `inspect`, plugin tooltips)."""
        lines = [f"{self.name} ({self.kind}, schema v{self.schema_version})"]
        if self.description:
            lines.append(self.description)
        if self.class_names:
            lines.append(f"classes ({self.n_classes}): {', '.join(self.class_names)}")
        if self.has_image_input:
            assert self.normalization is not None
            lines.append(f"bands ({len(self.bands)}): {', '.join(self.bands)}")
            scale = self.normalization.reflectance_scale
            lines.append(f"tile {self.tile_size} px at {self.gsd_m:g} m/px, overlap {self.overlap:g}, "
                         f"radiometry {self.normalization.radiometry}"
                         + (f" (reflectance x {scale:g})" if self.normalization.radiometry == "reflectance" else ""))
        if self.spectral is not None:
            lines.append(_describe_spectral(self.spectral))
        if self.extra_inputs:
            lines.append(f"extra inputs: {', '.join(self.extra_inputs)}")
        if self.dense_pixels:
            lines.append("maps every pixel at stride 1 (each from the tile centred on it, from per-pixel embeddings)")
        if self.location_encoder:
            params = self.location_encoder.get("params", {})
            shown = ", ".join(f"{k}={v}" for k, v in params.items() if not isinstance(v, (list, dict)))
            lines.append(f"location encoder: {self.location_encoder['name']}({shown}); "
                         f"input (lat, lon) in degrees")
        if self.embedding_dim:
            lines.append(f"embedding size: {self.embedding_dim}"
                         + (", PCA basis stored" if self.pca_basis else ""))
        if self.prior_exponent is not None:
            lines.append(f"fusion exponent α = {self.prior_exponent:g} in P(y|image)·P(y|location)^α")
        for key, value in self.metrics.items():
            lines.append(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
        if self.trainer_version:
            lines.append(f"trainer {self.trainer_version}")
        return "\n".join(lines)


def _describe_spectral(spectral: Spectral) -> str:
    what = ("embeds each pixel's spectrum (tile = mean of its pixels)" if spectral.consumes == "pixels"
            else "embeds tiles" + (f" in {spectral.patch_size} px patches" if spectral.patch_size else ""))
    groups = "; ".join(f"{name}: {', '.join(members)}" for name, members in spectral.band_groups.items())
    text = f"{what}; {spectral.timesteps} timestep(s); maskable band groups {groups}"
    if spectral.derived:
        text += "; derived " + ", ".join(f"{name} ({', '.join(src)})" for name, src in spectral.derived.items())
    if spectral.required_bands:
        text += f"; required {', '.join(spectral.required_bands)}"
    if spectral.masked_bands:
        text += f"; masked as in training: {', '.join(spectral.masked_bands)}"
    return text


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Keep keys that ``cls`` declares; unknown keys from newer minor exports are ignored."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _nesting(value: Any) -> int:
    """Levels of lists/dicts in ``value`` (1 for a plain value), counted without recursion."""
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise MetadataError(f"invalid model metadata: {message}")


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
