"""Attribute table of classified tiles: the fields of the output vector layer, pure Python.

Fields: ``class``, ``class_id``, ``prob``, ``top2_class``/``top2_prob`` … ``topK_*``,
``entropy``, ``valid_frac`` and one ``p_<class>`` per class (read back by the
prediction-probability heatmap). Skipped all-nodata tiles have ``class`` = ``"nodata"``,
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
    """Field name holding P(class), e.g. ``p_AnnualCrop``."""
    return PROBABILITY_PREFIX + re.sub(r"\W+", "_", class_name).strip("_")


def field_specs(class_names: list[str], k: int) -> list[tuple[str, type]]:
    """(name, python type) of every field, in order."""
    specs: list[tuple[str, type]] = [("class", str), ("class_id", int), ("prob", float)]
    for rank in range(2, min(k, len(class_names)) + 1):
        specs += [(f"top{rank}_class", str), (f"top{rank}_prob", float)]
    specs += [("entropy", float), ("valid_frac", float)]
    return specs + [(probability_field(name), float) for name in class_names]


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
