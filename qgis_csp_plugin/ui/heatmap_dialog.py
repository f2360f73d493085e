"""Dialog of the three heatmap actions: pick model, class, extent/CRS/cell size, output; run as a QgsTask."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    Qgis,
    QgsProcessingUtils,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import (
    QgsExtentWidget,
    QgsFileWidget,
    QgsMapLayerComboBox,
    QgsProjectionSelectionWidget,
)
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QProgressBar,
)

from ..contract.errors import GeoSslError, ModelLoadError
from ..contract.onnx_model import OnnxModel, read_metadata
from ..core.grid import CellGrid
from ..core.heatmap import ENTROPY, MAX_PROBABILITY, MOST_LIKELY
from ..core.kinds import HeatmapKind
from ..jobs.heatmap import DEFAULT_WIDTH, HEATMAP_TYPES, HeatmapRequest, default_model, prepare
from ..qgis_io.crs import WGS84, to_extent, world_extent
from ..qgis_io.heatmap_layers import read_tile_probabilities
from .dialog import GeoSslDialog
from .file_field import on_path_settled
from .heatmap_task import HeatmapTask
from .messages import show_error
from .ownership import Running
from .prior_exponent_box import prior_exponent_box, prior_exponent_value

SUMMARIES = {HeatmapKind.CLASS_PRIOR: (MOST_LIKELY, ENTROPY),
             HeatmapKind.PREDICTION: (MAX_PROBABILITY, ENTROPY, MOST_LIKELY)}


class HeatmapDialog(GeoSslDialog):
    """One dialog per heatmap ``kind``."""

    def __init__(self, iface, kind: HeatmapKind | str, parent=None, running: Running | None = None) -> None:
        kind = HeatmapKind.of(kind)
        super().__init__(iface, f"CSP – {HEATMAP_TYPES[kind].title}", parent, running)
        self.kind = kind
        self.task: HeatmapTask | None = None
        self.last_layer = None
        form = self.form
        self.model = QgsFileWidget()
        self.model.setFilter("ONNX models (*.onnx)")
        # A prediction heatmap fuses with the prior over the tiles' classes: chosen when left empty.
        self.model.setFilePath("" if kind == HeatmapKind.PREDICTION else str(default_model(kind) or ""))
        self.classes = QComboBox()
        if kind == HeatmapKind.PREDICTION:
            self._build_prediction(form)
        else:
            form.addRow("Location encoder" if kind == HeatmapKind.LOCATION_EMBEDDING else "Location prior",
                        self.model)
            if kind == HeatmapKind.CLASS_PRIOR:
                form.addRow("Show", self.classes)
            self._build_grid(form)
        self.output = QgsFileWidget()
        self.output.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.output.setFilter("GeoTIFF (*.tif)")
        self.output.lineEdit().setPlaceholderText("[temporary file]")
        form.addRow("Output GeoTIFF", self.output)
        self.progress = QProgressBar()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).clicked.connect(lambda _checked=False: self.start())
        self.cancel_button = self.buttons.addButton("Cancel run", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)  # Close; a running task goes on in the background
        self.main_layout.addWidget(self.progress)
        self.main_layout.addWidget(self.buttons)
        on_path_settled(self.model, lambda _path: self.refresh_classes())
        self.refresh_classes()
        self.fit_to_screen()

    def _build_grid(self, form: QFormLayout) -> None:
        self.crs = QgsProjectionSelectionWidget()
        self.crs.setCrs(WGS84)  # world heatmaps: the project's CRS may be a conic or local one
        self.extent = QgsExtentWidget()
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if canvas is not None:
            self.extent.setMapCanvas(canvas)
            self.extent.setCurrentExtent(canvas.extent(), canvas.mapSettings().destinationCrs())
        self.cell_size = QDoubleSpinBox()
        self.cell_size.setDecimals(6)
        self.cell_size.setRange(1e-6, 1e9)
        self.size_label = QLabel()
        form.addRow("CRS", self.crs)
        form.addRow("Extent (original = world)", self.extent)
        form.addRow("Cell size (CRS units)", self.cell_size)
        form.addRow("", self.size_label)
        self.crs.crsChanged.connect(self.reset_world)
        self.extent.extentChanged.connect(self.update_size)
        self.cell_size.valueChanged.connect(self.update_size)
        self.reset_world()

    def _build_prediction(self, form: QFormLayout) -> None:
        self.layer = QgsMapLayerComboBox()
        self.layer.setFilters(Qgis.LayerFilter.PolygonLayer)
        self.fuse = QCheckBox("Fuse with the location prior")
        self.prior_exponent = prior_exponent_box()
        form.addRow("Classified tiles", self.layer)
        form.addRow("Show", self.classes)
        form.addRow(self.fuse)
        form.addRow("Location prior", self.model)
        form.addRow("Prior exponent α", self.prior_exponent)
        self.layer.layerChanged.connect(self.refresh_classes)

    def reset_world(self) -> None:
        """World extent of the chosen CRS as the original/default extent, 720 cells wide."""
        crs = self.crs.crs()
        try:
            world = world_extent(crs)
        except GeoSslError as exc:
            self.size_label.setText(str(exc))
            return
        self.extent.setOriginalExtent(QgsRectangle(world.xmin, world.ymin, world.xmax, world.ymax), crs)
        self.extent.setOutputCrs(crs)
        self.extent.setOutputExtentFromOriginal()
        self.cell_size.setValue(world.width / DEFAULT_WIDTH)
        self.update_size()

    def update_size(self) -> None:
        try:
            grid = CellGrid.from_cell_size(to_extent(self.extent.outputExtent()), self.cell_size.value())
        except GeoSslError as exc:
            self.size_label.setText(str(exc))
            return
        self.size_label.setText(f"{grid.n_cols:,} x {grid.n_rows:,} cells")

    def refresh_classes(self) -> None:
        """Model tooltip (metadata, IO, export check) and the class choices of the prior or classified layer."""
        try:
            self.model.setToolTip(OnnxModel.load(self.model.filePath(), threads=1, device="cpu").describe()
                                  if self.model.filePath() else "")
        except GeoSslError as exc:
            self.model.setToolTip(str(exc))
        if self.kind == HeatmapKind.LOCATION_EMBEDDING:
            return
        names: list[str] = []
        try:
            if self.kind == HeatmapKind.CLASS_PRIOR and self.model.filePath():
                names = read_metadata(self.model.filePath()).class_names
            elif self.kind == HeatmapKind.PREDICTION and isinstance(self.layer.currentLayer(), QgsVectorLayer):
                names = read_tile_probabilities(self.layer.currentLayer()).class_names
        except (ModelLoadError, GeoSslError):
            names = []
        current = self.classes.currentText()
        self.classes.clear()
        self.classes.addItems([*SUMMARIES[self.kind], *names])
        if current:
            self.classes.setCurrentText(current)

    def request(self) -> HeatmapRequest:
        """The request the widgets describe (output: a temporary file when left empty)."""
        output = self.output.filePath() or QgsProcessingUtils.generateTempFilename(f"{self.kind}_heatmap.tif")
        model = Path(self.model.filePath()) if self.model.filePath() else None
        if self.kind == HeatmapKind.PREDICTION:
            return HeatmapRequest(self.kind, Path(output), model, choice=self.classes.currentText(),
                                  tiles_layer=self.layer.currentLayer(), fuse_prior=self.fuse.isChecked(),
                                  prior_exponent=prior_exponent_value(self.prior_exponent))
        return HeatmapRequest(self.kind, Path(output), model, crs=self.crs.crs(),
                              extent=to_extent(self.extent.outputExtent()), cell_size=self.cell_size.value(),
                              choice=self.classes.currentText())

    def start(self) -> HeatmapTask | None:
        """Prepare and queue the task; user errors go to the message bar. ``self.task`` is None when done."""
        try:
            job = prepare(self.request())
        except GeoSslError as exc:
            show_error(self, str(exc))
            return None
        self.task = HeatmapTask(job, self, on_done=self._finished)
        self.progress.setValue(0)
        self.task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.running.start(self.task, self)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _finished(self, layer) -> None:
        """Called by the task (main thread); the task object is deleted by QGIS right after."""
        self.task, self.last_layer = None, layer
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setValue(100 if layer is not None else 0)
