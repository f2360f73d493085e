"""Generic renderers for output layers: categorized vectors, paletted and pseudocolor rasters."""

from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
    QgsSymbol,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

# Colour-blind-friendly fixed palette (Tableau 10 + 10 more) for models without class_colors.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ff7f0e", "#98df8a", "#d62728", "#c5b0d5",
           "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


def class_colors(class_names: list[str], colors: list[str] | None = None) -> list[str]:
    """One '#rrggbb' per class: the model's own colours if given, else the fixed palette (cycled)."""
    if colors and len(colors) == len(class_names):
        return list(colors)
    return [PALETTE[i % len(PALETTE)] for i in range(len(class_names))]


def apply_categorized(layer: QgsVectorLayer, field: str, categories: list[tuple[object, str, str]],
                      opacity: float = 0.8) -> None:
    """Categorized renderer on ``field``: one (value, legend label, '#rrggbb') per category."""
    renderer_categories = []
    for value, label, color in categories:
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(color))
        symbol.setOpacity(opacity)
        renderer_categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, renderer_categories))
    layer.triggerRepaint()


def apply_paletted(layer: QgsRasterLayer, classes: list[tuple[int, str, str]], band: int = 1) -> None:
    """Paletted (unique values) renderer: one (value, legend label, '#rrggbb') per class."""
    entries = [QgsPalettedRasterRenderer.Class(value, QColor(color), label) for value, label, color in classes]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), band, entries))
    layer.triggerRepaint()


def apply_pseudocolor(layer: QgsRasterLayer, minimum: float, maximum: float, ramp: str = "Viridis",
                      band: int = 1) -> None:
    """Single-band pseudocolor renderer with a named QGIS colour ramp stretched over [min, max]."""
    color_ramp = QgsStyle.defaultStyle().colorRamp(ramp)
    ramp_shader = QgsColorRampShader(minimum, maximum, color_ramp)
    ramp_shader.classifyColorRamp(5, band, layer.extent(), layer.dataProvider())
    shader = QgsRasterShader(minimum, maximum)
    shader.setRasterShaderFunction(ramp_shader)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(minimum)
    renderer.setClassificationMax(maximum)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def apply_rgb_stretch(layer: QgsRasterLayer, bands: tuple[int, int, int], minimum: float, maximum: float) -> None:
    """Show ``bands`` (red, green, blue) of ``layer`` stretched linearly from ``minimum`` to ``maximum``."""
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, *bands)
    setters = (renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
               renderer.setBlueContrastEnhancement)
    for band, setter in zip(bands, setters):
        enhancement = QgsContrastEnhancement(provider.dataType(band))
        enhancement.setMinimumValue(minimum)
        enhancement.setMaximumValue(maximum)
        enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
        setter(enhancement)
    layer.setRenderer(renderer)
