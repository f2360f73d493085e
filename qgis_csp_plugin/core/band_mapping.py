"""Which layer band feeds which model band: by name, alias, wavelength or sensor, as at training, by
position, or as the user says. Bands the layer lacks are masked (models with maskable band groups,
schema v3 ``spectral``), never invented: they are fed as zeros with ``band_mask`` = 1, and a group
missing one of its bands is masked whole, as the released encoders do.

A mapping is one layer band number per model band (1-based; 0 = missing), given as ``"4,3,2"`` or as
``"B04=1,B03=2,B02=3,nir=4"`` (model band names or aliases; bands not named are missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from ..contract.bands import SENSORS, Sensor, detect_sensor, group_masked, s2_band_of_label, s2_name, sensor_order
from ..contract.errors import GeoSslError
from ..contract.schema import ModelMetadata

MISSING = 0  # layer band "number" of a model band the layer lacks
#: A user's mapping: band numbers in model order, or model band name → layer band number.
BandChoice = Union[list, dict]


class BandMappingError(GeoSslError):
    """The band mapping does not fit the layer or the model."""


@dataclass
class BandMapping:
    """The layer band of every model band (0 = missing), what the model uses and how it was found."""

    model_bands: list[str]
    layer_bands: list[int]
    layer_labels: list[str]
    how: str  # "user", "training", "names", "sensor", "position"
    masked: list[str] = field(default_factory=list)  # model bands the model does not use (fed as zeros)
    used_groups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def band_mask(self) -> np.ndarray:
        """``(C,)`` float32: 1 for every masked model band (the ``band_mask`` input)."""
        return np.array([band in self.masked for band in self.model_bands], dtype=np.float32)

    @property
    def read_bands(self) -> list[int]:
        """Layer band per model band, 0 for masked ones (nothing is read for them)."""
        return [MISSING if band in self.masked else layer for band, layer in zip(self.model_bands, self.layer_bands)]

    def source_labels(self) -> list[str | None]:
        """The layer band label read for each model band (None when masked): what a trained model stores."""
        return [None if layer == MISSING else self.layer_labels[layer - 1] for layer in self.read_bands]

    def pairs(self) -> list[str]:
        """``"B04 ← band 1 (Red)"`` for each used model band."""
        pairs = []
        for band, layer in zip(self.model_bands, self.read_bands):
            if layer != MISSING:
                short = _short(self.layer_labels[layer - 1])
                pairs.append(f"{band} ← band {layer}" + (f" ({short})" if short else ""))
        return pairs

    def describe(self) -> str:
        """One log line: the pairs, the masked bands and how the mapping was found."""
        how = {"user": "as given", "training": "as at training (the layer's band labels)",
               "names": "by band name/wavelength", "sensor": "by the sensor's band order",
               "position": "by position"}[self.how]
        text = f"bands {how}: {', '.join(self.pairs())}"
        if self.masked:
            text += f"; masked (not in the layer, or their group is incomplete): {', '.join(self.masked)}"
        if self.used_groups:
            text += f"; band groups used: {', '.join(self.used_groups)}"
        return text


def _short(label: str) -> str:
    """A layer band label without QGIS's "Band n" prefixes, repeats and uninformative colour interpretations:
    ``Band 1 Band 1 (Red) Red`` → ``Red``, ``Band 2 Band 2: SR_B4 (Gray) Gray`` → ``SR_B4``."""
    text = re.sub(r"^Band \d+\s*(Band \d+:?)?\s*", "", label).replace("(", " ").replace(")", " ")
    words = [w for w in dict.fromkeys(text.split()) if w not in ("Gray", "Undefined")]
    return " ".join(words)


def parse_bands(text: str) -> BandChoice:
    """``"4,3,2"`` → ``[4, 3, 2]`` (0 or ``-`` = missing); ``"B04=1, nir=4"`` → ``{"B04": 1, "nir": 4}``;
    ``""`` → ``[]``."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        if any("=" in p for p in parts):
            pairs = [p.split("=", 1) for p in parts]
            return {name.strip(): int(value) for name, value in pairs}
        return [MISSING if p == "-" else int(p) for p in parts]
    except ValueError as exc:
        raise BandMappingError(f"band mapping {text!r} must be layer band numbers in model band order, e.g. 3,2,1 "
                               "(0 = missing), or model band = layer band pairs, e.g. B04=1,B03=2,B02=3") from exc


def resolve_choice(choice: BandChoice, model_bands: list[str]) -> list[int]:
    """A :func:`parse_bands` result as layer band numbers in model band order."""
    if isinstance(choice, list):
        return list(choice)
    result = [MISSING] * len(model_bands)
    for name, layer in choice.items():
        index = _model_band_index(name, model_bands)
        if index is None:
            raise BandMappingError(f"{name!r} is not a band of the model ({', '.join(model_bands)})")
        result[index] = layer
    return result


def _model_band_index(name: str, model_bands: list[str]) -> int | None:
    wanted = s2_name(name) or name
    for i, band in enumerate(model_bands):
        if band.lower() == name.lower() or (s2_name(band) or band) == wanted:
            return i
    return None


def maskable(meta: ModelMetadata) -> bool:
    """True when the model takes a band mask: bands the layer lacks are masked instead of refused."""
    return meta.spectral is not None and "band_mask" in meta.extra_inputs


def validate_bands(bands: list[int], model_bands: list[str], layer_band_count: int,
                   allow_missing: bool = False) -> list[int]:
    """Return ``bands`` or raise a message naming what does not fit."""
    if len(bands) != len(model_bands):
        raise BandMappingError(
            f"the model needs {len(model_bands)} bands ({', '.join(model_bands)}) but the mapping lists "
            f"{len(bands)}; give one layer band number per model band" + (" (0 = missing)" if allow_missing else ""))
    if MISSING in bands and not allow_missing:
        raise BandMappingError(f"the model needs every band ({', '.join(model_bands)}): 0 (missing) is not allowed")
    bad = [b for b in bands if not 1 <= b <= layer_band_count and b != MISSING]
    if bad:
        raise BandMappingError(f"band(s) {', '.join(map(str, bad))} do not exist: the layer has "
                               f"{layer_band_count} band(s)")
    return list(bands)


def match_by_label(model_bands: list[str], layer_labels: list[str], sensor: Sensor | None = None) -> list[int]:
    """Per model band the one layer band whose label names the same Sentinel-2 band (name, alias,
    wavelength, the ``sensor``'s own numbering), else 0 (none, or several)."""
    named = [s2_band_of_label(label, sensor) for label in layer_labels]
    result = []
    for band in model_bands:
        wanted = s2_name(band)
        hits = [i + 1 for i, name in enumerate(named) if wanted is not None and name == wanted]
        result.append(hits[0] if len(hits) == 1 else MISSING)
    return result


def match_by_sensor(model_bands: list[str], n_layer_bands: int, sensor: Sensor | None) -> list[int] | None:
    """The mapping when the layer's bands are in ``sensor``'s usual order (e.g. NAIP: red, green, blue, NIR)."""
    order = sensor_order(sensor, n_layer_bands) if sensor is not None else None
    if order is None:
        return None
    return match_by_label(model_bands, [band.name for band in order], sensor)


def match_by_training(meta: ModelMetadata, layer_labels: list[str]) -> list[int] | None:
    """The mapping a trained model stored (``source_band_labels``) when each label is once in the layer."""
    stored = meta.source_band_labels
    if not stored or not any(stored):
        return None
    result = []
    for label in stored:
        hits = [i + 1 for i, own in enumerate(layer_labels) if own == label]
        if label is not None and len(hits) != 1:
            return None
        result.append(hits[0] if label is not None else MISSING)
    return result


def _count(bands: list[int] | None) -> int:
    return sum(b != MISSING for b in bands) if bands else 0


def band_mapping(meta: ModelMetadata, layer_labels: list[str], given: BandChoice | None = None,
                 layer_name: str = "", sensor: str | None = None) -> BandMapping:
    """The mapping of ``meta``'s bands onto the layer's; raises :class:`BandMappingError` with a hint.

    ``given`` (the user's) wins; else the layer band labels the model was trained on, the band names,
    aliases and wavelengths in the labels or the ``sensor``'s band order (a :data:`SENSORS` key, else
    detected from ``layer_name``, e.g. ``LT05_…`` or NAIP ``m_…``), whichever finds more bands; else the
    layer order when the band counts agree (with a note). Models with band groups mask what is missing.
    """
    bands, n_layer = list(meta.bands), len(layer_labels)
    can_mask = maskable(meta)
    chosen_sensor = SENSORS.get(sensor) if sensor else detect_sensor(layer_name)
    if sensor and chosen_sensor is None:
        raise BandMappingError(f"unknown sensor {sensor!r}; known: {', '.join(SENSORS)}")
    notes: list[str] = []
    if given:
        mapping, how = validate_bands(resolve_choice(given, bands), bands, n_layer, can_mask), "user"
    else:
        mapping, how = _automatic(meta, layer_labels, chosen_sensor, can_mask)
        if mapping is None:
            raise BandMappingError(no_match_message(bands, layer_labels, can_mask, chosen_sensor))
        if how == "position":
            notes.append(f"the layer's band names do not name the model bands, so they are used in layer order as "
                         f"{', '.join(bands)}: check that order or set the band mapping")
        elif how == "sensor":
            notes.append(f"the layer's bands are read as {chosen_sensor.title} in its usual band order (from the "
                         f"{'sensor setting' if sensor else 'file name'}): set the band mapping if that is wrong")
    if not can_mask:  # validate_bands and _automatic leave no band missing
        return BandMapping(bands, mapping, list(layer_labels), how, notes=notes)
    return _apply_groups(meta, BandMapping(bands, mapping, list(layer_labels), how, notes=notes))


def _automatic(meta: ModelMetadata, labels: list[str], sensor: Sensor | None,
               can_mask: bool) -> tuple[list[int] | None, str]:
    bands = list(meta.bands)
    trained = match_by_training(meta, labels)
    if trained is not None:
        return trained, "training"
    by_name = match_by_label(bands, labels, sensor)
    by_sensor = match_by_sensor(bands, len(labels), sensor)
    complete = len(bands)
    if _count(by_sensor) > _count(by_name):
        by_name, how = by_sensor, "sensor"
    else:
        how = "names"
    distinct = len({b for b in by_name if b != MISSING}) == _count(by_name)
    if distinct and (_count(by_name) == complete or (can_mask and _count(by_name) > 0)):
        return by_name, how
    if len(labels) == complete:
        return list(range(1, complete + 1)), "position"
    return None, ""


def _apply_groups(meta: ModelMetadata, mapping: BandMapping) -> BandMapping:
    """Mask missing bands, incomplete groups and the bands the model was trained without."""
    spectral = meta.spectral
    layer_bands = list(mapping.layer_bands)
    trained_masked = [b for b, layer in zip(mapping.model_bands, layer_bands) if b in spectral.masked_bands
                      and layer != MISSING]
    if trained_masked:
        mapping.notes.append(f"{', '.join(trained_masked)} masked as when the model was trained, although the layer "
                             "has them")
        layer_bands = [MISSING if b in spectral.masked_bands else layer for b, layer in zip(mapping.model_bands,
                                                                                             layer_bands)]
    present = [layer != MISSING for layer in layer_bands]
    masked, used = group_masked(mapping.model_bands, spectral.band_groups, present, spectral.derived)
    present_by_band = dict(zip(mapping.model_bands, present))
    required = [b for b in spectral.required_bands if not present_by_band[b]]
    if required:
        raise BandMappingError(f"the model requires {', '.join(required)}, which the layer lacks. "
                               f"{mapping_hint(mapping.model_bands, mapping.layer_labels, True)}")
    if all(masked):
        raise BandMappingError(
            f"none of the model's band groups is complete in the layer ({_groups_text(spectral.band_groups)}): "
            f"{mapping_hint(mapping.model_bands, mapping.layer_labels, True)}")
    mapping.layer_bands = layer_bands
    mapping.masked = [b for b, m in zip(mapping.model_bands, masked) if m]
    mapping.used_groups = used
    return mapping


def _groups_text(groups: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(members)}" for name, members in groups.items())


def mapping_example(model_bands: list[str], layer_labels: list[str], allow_missing: bool) -> list[int]:
    """Example values for the hint, one per model band: the bands found by name, else the layer order
    (missing ones 0 when the model masks them)."""
    found = match_by_label(model_bands, layer_labels)
    n_layer = max(1, len(layer_labels))
    example = []
    for i, layer in enumerate(found):
        if layer == MISSING and not allow_missing:
            layer = i % n_layer + 1
        example.append(layer)
    return example


def mapping_hint(model_bands: list[str], layer_labels: list[str], allow_missing: bool) -> str:
    """How to write the mapping: the number of values, the model band order and an example of that length."""
    example = ",".join(map(str, mapping_example(model_bands, layer_labels, allow_missing)))
    text = (f"Set the band mapping to {len(model_bands)} layer band numbers, one per model band in the order "
            f"{','.join(model_bands)}, e.g. {example}")
    if allow_missing:
        text += " (0 = the layer lacks it: masked), or as pairs, e.g. B04=1,B03=2,B02=3"
    return text


def no_match_message(model_bands: list[str], layer_labels: list[str], allow_missing: bool,
                     sensor: Sensor | None) -> str:
    found = [band for band, layer in zip(model_bands, match_by_label(model_bands, layer_labels)) if layer != MISSING]
    named = f"whose names give only {', '.join(found)}" if found else "whose names do not name them"
    sensors = ", ".join(SENSORS)
    return (f"the model needs {'some of ' if allow_missing else ''}{len(model_bands)} bands ({', '.join(model_bands)}) "
            f"and the layer has {len(layer_labels)} {named}"
            + (f" ({sensor.title} has another band count)" if sensor is not None else "")
            + f". {mapping_hint(model_bands, layer_labels, allow_missing)}"
            + (f"; or name the sensor ({sensors})" if allow_missing else ""))
