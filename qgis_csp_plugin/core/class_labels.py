"""Class labels from an attribute field (text or integer): names, ids and the checks training needs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from ..contract.class_names import case_conflict
from ..contract.errors import GeoSslError

MIN_SAMPLES_PER_CLASS = 2


def label_text(value: object) -> str | None:
    """A field value as a class name; ``None`` for NULL/empty values (integers lose a ``.0``)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text if text and text.upper() != "NULL" else None


def ordered_classes(names: Iterable[str]) -> list[str]:
    """Distinct class names, in numeric order when all are integers, else alphabetical."""
    distinct = set(names)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct, key=str.casefold)


def check_training_labels(labels: list[str], field: str, labelled: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The ordered class names; raises :class:`GeoSslError` unless there are ≥ 2 classes of ≥ 2 samples whose
    names differ by more than case.

    ``labelled``: the label of every sample given in the layer, so that a class whose samples were all
    dropped (outside the raster, nodata) is reported rather than silently left out.
    """
    if not labels:
        if labelled:
            raise GeoSslError(f"{len(labelled)} of {len(labelled)} samples of the class field {field!r} lie outside "
                              "the raster or on nodata: nothing to train on (do the layers overlap?)")
        raise GeoSslError(f"the class field {field!r} has no value at any usable sample: nothing to train on")
    counts = Counter(labels)
    classes = ordered_classes([*counts, *labelled])
    conflict = case_conflict(classes)
    if conflict:
        raise GeoSslError(f"class field {field!r}: {conflict}")
    if len(classes) < 2:
        raise GeoSslError(f"the class field {field!r} holds a single class ({classes[0]!r}): a classifier needs "
                          "at least two classes")
    few = [f"{name!r} ({counts[name]})" for name in classes if counts[name] < MIN_SAMPLES_PER_CLASS]
    if few:
        raise GeoSslError(f"every class needs at least {MIN_SAMPLES_PER_CLASS} usable samples; too few for "
                          f"{', '.join(few)}: add labels or merge classes")
    return classes
