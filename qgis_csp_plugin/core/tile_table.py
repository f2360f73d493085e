"""Attribute table of classified tiles: the fields of the output vector layer, pure Python.

Fields: ``class``, ``class_id``, ``prob``, ``top2_class``/``top2_prob`` … ``topK_*``,
``entropy``, ``valid_frac`` and one ``p_<class>`` per class (read back by the
prediction-probability heatmap; :func:`probability_fields` keeps them distinct and legal, and the
real class name is the field's alias). Skipped all-nodata tiles have ``class`` = ``"nodata"``,
``class_id`` = -1, ``valid_frac`` = 0 and NULL probabilities.
"""

from __future__ import annotations

import re

import numpy as np

from ..contract.probabilities import entropy, top_k
from .classify import TileResults

NODATA_CLASS = "nodata"
PROBABILITY_PREFIX = "p_"


def probability_field(class_name: str) -> str:
    """The field name P(class) starts from, e.g. ``p_AnnualCrop``, ``p_Sea_Lake`` (may be just ``p_``)."""
    return PROBABILITY_PREFIX + re.sub(r"\W+", "_", class_name).strip("_")


def probability_fields(class_names: list[str]) -> list[str]:
    """One field name per class: :func:`probability_field`, made distinct also ignoring case (SQLite, so
    GeoPackage, compares column names without case) by appending the class position: ``Water``, ``water``
    give ``p_Water``, ``p_water_1``; a name of no letters or digits (an emoji) gives ``p_class<position>``.
    A function of the names in order only, so the same model always writes the same fields."""
    fields: list[str] = []
    taken: set[str] = set()
    for position, name in enumerate(class_names):
        field = probability_field(name)
        if field == PROBABILITY_PREFIX:
            field += f"class{position}"
        while field.casefold() in taken:
            field = f"{field}_{position}"
        taken.add(field.casefold())
        fields.append(field)
    return fields


def field_aliases(class_names: list[str]) -> dict[str, str]:
    """The real class name of each probability field (its alias in the layer)."""
    return dict(zip(probability_fields(class_names), class_names))


def field_specs(class_names: list[str], k: int) -> list[tuple[str, type]]:
    """(name, python type) of every field, in order."""
    specs: list[tuple[str, type]] = [("class", str), ("class_id", int), ("prob", float)]
    for rank in range(2, min(k, len(class_names)) + 1):
        specs += [(f"top{rank}_class", str), (f"top{rank}_prob", float)]
    specs += [("entropy", float), ("valid_frac", float)]
    return specs + [(name, float) for name in probability_fields(class_names)]


def rows(results: TileResults, k: int) -> list[list]:
    """One attribute list per processed tile, matching :func:`field_specs`."""
    names = results.class_names
    probs = np.nan_to_num(results.probabilities, nan=0.0)
    idx, top = top_k(probs, k)
    ent = entropy(probs)
    out = []
    for i, skipped in enumerate(results.skipped):
        frac = float(results.valid_fraction[i])
        if skipped:
            n_null = 1 + 2 * (idx.shape[1] - 1) + 1
            out.append([NODATA_CLASS, -1] + [None] * n_null + [frac] + [None] * len(names))
            continue
        row: list = [names[idx[i, 0]], int(idx[i, 0]), float(top[i, 0])]
        for rank in range(1, idx.shape[1]):
            row += [names[idx[i, rank]], float(top[i, rank])]
        out.append(row + [float(ent[i]), frac] + probs[i].tolist())
    return out
