"""Band mapping as QGIS band pickers (one per model band) and the choice of a layer the model can read."""

from __future__ import annotations

from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer
from qgis.gui import QgsRasterBandComboBox
from qgis.PyQt.QtWidgets import QFormLayout, QWidget

from ..contract.errors import CspError
from ..core.band_mapping import default_bands
from ..qgis_io.layer_defaults import is_plugin_output
from ..qgis_io.provider_reader import band_labels


class BandPicker(QWidget):
    """One :class:`QgsRasterBandComboBox` per model band, labelled with the model band's name."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.boxes: list[QgsRasterBandComboBox] = []
        self.names: list[str] = []

    def set_bands(self, layer: QgsRasterLayer | None, model_bands: list[str]) -> None:
        """Rebuild the pickers for ``model_bands`` over ``layer``'s bands, preset by name (else order)."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.boxes, self.names = [], list(model_bands)
        try:
            preset = default_bands(model_bands, band_labels(layer)) if layer is not None else []
        except CspError:
            preset = []
        for i, name in enumerate(model_bands):
            box = QgsRasterBandComboBox(self)
            box.setObjectName(f"csp_band_{name}")
            box.setShowNotSetOption(True)
            box.setLayer(layer)
            box.setBand(preset[i] if preset else -1)
            self.form.addRow(name, box)
            self.boxes.append(box)

    def bands(self) -> list[int] | None:
        """1-based layer bands in model order; ``None`` while any picker is 'not set'."""
        chosen = [box.currentBand() for box in self.boxes]
        return None if any(band < 1 for band in chosen) else chosen

    def unset(self) -> list[str]:
        """Model bands whose picker is 'not set'."""
        return [name for name, box in zip(self.names, self.boxes) if box.currentBand() < 1]


def readable_by(layer: QgsMapLayer | None, model_bands: list[str]) -> bool:
    """True for a valid raster whose bands the model can take by name, or in order when the counts agree."""
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
        return False
    try:
        default_bands(model_bands, band_labels(layer))
    except CspError:
        return False
    return True


def preferred_layer(active: QgsMapLayer | None, model_bands: list[str]) -> QgsRasterLayer | None:
    """The active layer when the model can read it, else the first such raster of the project's layer tree;
    never one of the plugin's own outputs (a 3-band embedding heatmap fits an RGB model by band count)."""
    tree = QgsProject.instance().layerTreeRoot()
    layers = [active] + ([node.layer() for node in tree.findLayers()] if tree is not None else [])
    return next((layer for layer in layers if readable_by(layer, model_bands) and not is_plugin_output(layer)), None)
