"""Class colours for models that store none: land-cover colours for classes with a known name.

A class whose name contains a land-cover keyword gets that cover's usual colour (water blue, forest dark
green, crops yellow, built-up red, roads grey…; the EuroSAT models' own colours where they overlap);
other classes, and a second class of the same cover, take the next unused colour of a fixed
colour-blind-friendly palette. A keyword matches the start of a word of the name (words split at
spaces, punctuation and camelCase: "SeaLake" is "sea" + "lake", so "street" is not "tree" and "rice" not
"ice"), case-insensitively; the first matching rule wins (so "PermanentCrop" is not "crop").
"""

from __future__ import annotations

import re

LAND_COVER = (
    (("sea", "lake", "ocean", "water", "reservoir", "pond", "lagoon", "bay"), "#08519c"),
    (("river", "stream", "canal"), "#41b6c4"),
    (("wetland", "marsh", "swamp", "bog", "mangrove"), "#3f9b8f"),
    (("highway", "road", "street", "rail", "paved", "impervious", "parking"), "#7f7f7f"),
    (("permanent", "orchard", "vineyard", "plantation", "olive"), "#b15928"),
    (("crop", "cultivated", "agri", "farm", "arable", "cereal", "wheat", "maize", "rice", "field"), "#e6c84f"),
    (("pasture", "meadow", "grass", "lawn"), "#c7e9a0"),
    (("herbaceous", "vegetation", "savanna", "rangeland"), "#a6d96a"),
    (("shrub", "scrub", "bush", "heath"), "#73a24e"),
    (("forest", "tree", "wood", "jungle"), "#1b7837"),
    (("industrial", "commercial", "factory", "port"), "#d62728"),
    (("residential", "urban", "built", "city", "town", "settlement", "building", "village"), "#e7298a"),
    (("bare", "sand", "desert", "rock", "soil", "barren", "beach", "dune", "quarry"), "#d9b77e"),
    (("snow", "ice", "glacier"), "#e0f3f8"),
    (("cloud",), "#bdbdbd"),
    (("shadow",), "#404040"),
)
# Colour-blind-friendly fixed palette (Tableau 10 + 10 more) for the other classes.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ff7f0e", "#98df8a", "#d62728", "#c5b0d5",
           "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


def land_cover_color(class_name: str) -> str | None:
    """The usual colour of the land cover ``class_name`` names, or None."""
    words = [w.casefold() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", class_name)]
    return next((color for keywords, color in LAND_COVER
                 if any(w.startswith(k) for w in words for k in keywords)), None)


def default_class_colors(class_names: list[str]) -> list[str]:
    """One distinct '#rrggbb' per class: land-cover colours for known names, the fixed palette for the rest."""
    colors: list[str | None] = []
    for name in class_names:
        color = land_cover_color(name)
        colors.append(color if color not in colors else None)
    spare = iter([c for c in PALETTE if c not in colors] * (1 + len(class_names) // len(PALETTE)))
    return [color or next(spare) for color in colors]
