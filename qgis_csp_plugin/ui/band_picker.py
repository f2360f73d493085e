"""Band mapping as QGIS band pickers (one per model band), the pairs it gives, and the choice of a layer
the model can read."""

from __future__ import annotations

from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer
from qgis.gui import QgsRasterBandComboBox
from qgis.PyQt.QtWidgets import QFormLayout, QLabel, QWidget

from ..contract.errors import GeoSslError
from ..contract.schema import ModelMetadata
from ..core.band_mapping import MISSING, BandMapping, band_mapping, maskable
from ..qgis_io.layer_defaults import is_plugin_output
from ..qgis_io.layer_facts import file_name
from ..qgis_io.provider_reader import band_labels


def automatic_mapping(layer: QgsRasterLayer, meta: ModelMetadata) -> BandMapping:
    """The mapping Classify uses when the user sets none (raises :class:`GeoSslError` when there is none)."""
    return band_mapping(meta, band_labels(layer), layer_name=file_name(layer))


class BandPicker(QWidget):
    """One :class:`QgsRasterBandComboBox` per model band, labelled with the model band's name, and a line
    with the model band ↔ layer band pairs and the masked bands. For models with band groups "not set"
    means the layer lacks the band (masked)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.boxes: list[QgsRasterBandComboBox] = []
        self.names: list[str] = []
        self.meta: ModelMetadata | None = None
        self.layer: QgsRasterLayer | None = None
        self.summary = QLabel()
        self.summary.setObjectName("csp_band_pairs")
        self.summary.setWordWrap(True)

    def set_bands(self, layer: QgsRasterLayer | None, meta: ModelMetadata) -> None:
        """Rebuild the pickers for ``meta``'s bands over ``layer``'s bands, preset as Classify would map them."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.summary = QLabel()
        self.summary.setObjectName("csp_band_pairs")
        self.summary.setWordWrap(True)
        self.boxes, self.names, self.meta, self.layer = [], list(meta.bands), meta, layer
        try:
            preset = automatic_mapping(layer, meta).layer_bands if layer is not None else []
        except GeoSslError:
            preset = []
        for i, name in enumerate(meta.bands):
            box = QgsRasterBandComboBox(self)
            box.setObjectName(f"csp_band_{name}")
            box.setShowNotSetOption(True)
            box.setLayer(layer)
            box.setBand(preset[i] if preset and preset[i] != MISSING else -1)
            box.bandChanged.connect(self.show_pairs)
            self.form.addRow(name, box)
            self.boxes.append(box)
        self.form.addRow(self.summary)
        self.show_pairs()

    def chosen(self) -> list[int]:
        """1-based layer bands in model order, 0 where 'not set'."""
        return [max(box.currentBand(), MISSING) for box in self.boxes]

    def bands(self) -> list[int] | None:
        """The chosen bands; ``None`` while a band the model cannot do without is 'not set'."""
        chosen = self.chosen()
        if MISSING in chosen and not (self.meta is not None and maskable(self.meta)):
            return None
        return chosen

    def unset(self) -> list[str]:
        """Model bands whose picker is 'not set'."""
        return [name for name, box in zip(self.names, self.boxes) if box.currentBand() < 1]

    def mapping(self) -> BandMapping:
        """The mapping the pickers describe: the automatic one while they show it, else the user's (raises
        :class:`GeoSslError` when it does not fit the model)."""
        if self.layer is None or self.meta is None:
            raise GeoSslError("choose an input raster layer")
        try:
            automatic = automatic_mapping(self.layer, self.meta)
        except GeoSslError:
            automatic = None
        if automatic is not None and automatic.layer_bands == self.chosen():
            return automatic
        return band_mapping(self.meta, band_labels(self.layer), self.chosen(), file_name(self.layer))

    def show_pairs(self, *_args) -> None:
        """Show the model band ↔ layer band pairs and the masked bands of the current choice."""
        try:
            text = self.mapping().describe() if self.layer is not None else ""
        except GeoSslError as exc:
            text = str(exc)
        self.summary.setText(text)
        self.summary.setToolTip(text)


def readable_by(layer: QgsMapLayer | None, meta: ModelMetadata) -> bool:
    """True for a valid raster whose bands the model can take (by name, sensor, training labels or order)."""
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
        return False
    try:
        automatic_mapping(layer, meta)
    except GeoSslError:
        return False
    return True


def preferred_layer(active: QgsMapLayer | None, meta: ModelMetadata) -> QgsRasterLayer | None:
    """The active layer when the model can read it, else the first such raster of the project's layer tree;
    never one of the plugin's own outputs (a 3-band embedding heatmap fits an RGB model by band count)."""
    tree = QgsProject.instance().layerTreeRoot()
    layers = [active] + ([node.layer() for node in tree.findLayers()] if tree is not None else [])
    return next((layer for layer in layers if readable_by(layer, meta) and not is_plugin_output(layer)), None)
