"""QGIS side of the heatmaps: classified tiles in, styled heatmap layers out."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..contract.errors import GeoSslError
from ..core.heatmap import ENTROPY, HeatmapResult
from ..core.prediction_heatmap import TileProbabilities
from ..core.tile_table import PROBABILITY_PREFIX, field_aliases, probability_field
from .layers import stored_class_names
from .styling import apply_paletted, apply_pseudocolor, apply_rgb_stretch, class_colors


def read_tile_probabilities(layer: QgsVectorLayer) -> TileProbabilities:
    """Tile rectangles and ``p_<class>`` fields of a "Classify layer" vector result (NULL → NaN); class
    names from the fields' aliases, else the class names the file stores, else (older results) from the
    ``class`` values naming each field."""
    fields = [f.name() for f in layer.fields() if f.name().startswith(PROBABILITY_PREFIX)]
    if len(fields) < 2 or layer.fields().indexOf("class") < 0:
        raise GeoSslError(f"{layer.name()} is not a Classify layer result: it has no 'class' and p_<class> fields")
    indices = [layer.fields().indexOf(name) for name in fields]
    boxes, probabilities, names = [], [], {}
    for feature in layer.getFeatures():
        box = feature.geometry().boundingBox()
        boxes.append((box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()))
        values = [feature.attribute(i) for i in indices]
        probabilities.append([float(v) if isinstance(v, (int, float)) else np.nan for v in values])
        predicted = feature.attribute("class")
        if isinstance(predicted, str):
            names[probability_field(predicted)] = predicted
    box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    stored = stored_class_names(layer)
    aliases = field_aliases(stored) if stored else {}
    aliases.update({name: layer.fields().field(name).alias() for name in fields if layer.fields().field(name).alias()})
    class_names = [aliases.get(name) or names.get(name, name[len(PROBABILITY_PREFIX):]) for name in fields]
    return TileProbabilities(class_names, np.asarray(probabilities, dtype=np.float32).reshape(-1, len(fields)),
                             *box_array.T, class_colors=_legend_colors(layer, class_names))


def _legend_colors(layer: QgsVectorLayer, class_names: list[str]) -> list[str]:
    """``#rrggbb`` per class from the layer's categorized renderer on ``class``; empty if not styled so."""
    renderer = layer.renderer()
    if not isinstance(renderer, QgsCategorizedSymbolRenderer) or renderer.classAttribute() != "class":
        return []
    colors = {str(c.value()): c.symbol().color().name() for c in renderer.categories()}
    return [colors[name] for name in class_names] if all(name in colors for name in class_names) else []


def open_heatmap(result: HeatmapResult) -> QgsRasterLayer:
    """The heatmap file as a layer named after its content (not yet styled)."""
    layer = QgsRasterLayer(str(result.path), result.title, "gdal")
    if not layer.isValid():
        raise GeoSslError(f"the heatmap {result.path} could not be opened as a layer")
    return layer


def style_embedding(layer: QgsRasterLayer, result: HeatmapResult) -> None:
    """An embedding's three principal components as RGB."""
    apply_rgb_stretch(layer, (1, 2, 3), 1, 255)
    layer.triggerRepaint()


def style_probabilities(layer: QgsRasterLayer, result: HeatmapResult) -> None:
    """The class palette for "most likely class", else viridis (magma for the entropy) stretched to the data."""
    if result.style == "paletted":
        colors = class_colors(result.class_names, result.class_colors)
        apply_paletted(layer, [(i, name, color) for i, (name, color) in enumerate(zip(result.class_names, colors))])
    else:
        low, high = result.value_range or (0.0, 1.0)
        ramp = "Magma" if result.quantity == ENTROPY else "Viridis"
        apply_pseudocolor(layer, low, high if high > low else low + 1e-6, ramp)
