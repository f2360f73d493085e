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

from ..core.class_palette import default_class_colors


def class_colors(class_names: list[str], colors: list[str] | None = None) -> list[str]:
    """One '#rrggbb' per class: the model's own colours if given, else land-cover colours for known names
    and a fixed palette for the rest (:func:`~..core.class_palette.default_class_colors`)."""
    if colors and len(colors) == len(class_names):
        return list(colors)
    return default_class_colors(class_names)


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
