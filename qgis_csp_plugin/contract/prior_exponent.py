"""The exponent α of a location prior in the fusion P(y | image) · P(y | location)^α.

A prior exported with schema version 2 stores the α chosen on validation data
(``prior_exponent``, ``python -m trainer prior-exponent``); priors without it (schema version 1)
are used with α = 1, the plain product, and a note says so. The user may override α. Classify
layer also passes whether the extent lies outside the prior's training area
(``training.latlon_bounds``): there α = 0 (image only) unless the user forces the prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import GeoSslError
from .schema import ModelMetadata

#: α of priors that store none (the plain product of the CSP paper).
UNSTORED_EXPONENT = 1.0


@dataclass(frozen=True)
class PriorExponent:
    """The α to fuse with, and notes on where it came from (shown to the user)."""

    value: float
    notes: list[str] = field(default_factory=list)


def stored_exponent(prior: ModelMetadata) -> PriorExponent:
    """The α stored in ``prior``'s metadata, else 1 with a note."""
    if prior.prior_exponent is not None:
        return PriorExponent(float(prior.prior_exponent))
    return PriorExponent(UNSTORED_EXPONENT, [
        f"the location prior {prior.name!r} stores no fusion exponent (schema v{prior.schema_version}): "
        f"fusing with α = {UNSTORED_EXPONENT:g}, the plain product, which can cost accuracy; choose α on "
        "validation data with `python -m trainer prior-exponent` or set it in the dialog"])


def check_override(value: float | None) -> float | None:
    """``value`` if it is a valid α (finite, >= 0) or None; :class:`GeoSslError` otherwise."""
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise GeoSslError(f"the prior exponent α must be a finite number >= 0, got {value!r}")
    return value


def fusion_exponent(prior: ModelMetadata, override: float | None = None, outside_training_area: bool = False,
                    forced: bool = False) -> PriorExponent:
    """The α Classify fuses ``prior`` with: 0 outside the training area unless ``forced``, else the
    user's ``override``, else the stored α (1 with a note for priors without one)."""
    override = check_override(override)
    if outside_training_area and not forced:
        return PriorExponent(0.0, [
            f"the extent lies outside the training area of the location prior {prior.name!r}: the prior is "
            "not used (α = 0, image only); force the prior to fuse anyway"])
    if override is not None:
        return PriorExponent(float(override), [f"fusing with the prior exponent α = {override:g} set by the user"])
    stored = stored_exponent(prior)
    notes = stored.notes or [f"fusing with the prior exponent α = {stored.value:g} stored in {prior.name!r} "
                             "(chosen on validation data)"]
    return PriorExponent(stored.value, notes)
