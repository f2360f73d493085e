"""The "Classify layer" dialog: collects a :class:`ClassifyRequest` and starts a ClassifyTask."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateTransform,
    QgsCsException,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
)
from qgis.gui import QgsDateEdit, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QMessageBox,
    QSpinBox,
)

from ..contract.errors import GeoSslError
from ..contract.onnx_model import OnnxModel, import_onnxruntime, read_metadata
from ..contract.schema import DEFAULT_MONTH, Kind
from ..core.default_models import default_model_paths, find_default_model
from ..core.kinds import OutputKind
from ..core.tiling import TooManyTilesError
from ..jobs.classify import ClassifyJob, ClassifyRequest, prepare
from ..jobs.raster_input import default_resolution_m
from .band_picker import BandPicker, automatic_mapping, preferred_layer
from .classify_task import ClassifyTask
from .dialog import GeoSslDialog
from .file_field import on_path_settled
from .messages import show_error, show_info
from .ownership import Running
from .prior_exponent_box import prior_exponent_box, prior_exponent_value

EXTENT_CHOICES = ("Layer extent", "Map canvas extent", "Polygons of a vector layer",
                  "Selected polygons of a vector layer")
OUTPUT_CHOICES = {"Tile polygons + class raster + probability raster": tuple(OutputKind),
                  "Tile polygons (GeoPackage)": (OutputKind.VECTOR,),
                  "Class and probability rasters (GeoTIFF)": (OutputKind.CLASSES, OutputKind.PROBABILITY)}
SUFFIXES = {OutputKind.VECTOR: "_tiles.gpkg", OutputKind.CLASSES: "_classes.tif",
            OutputKind.PROBABILITY: "_probability.tif"}
SETTINGS = "csp/classify/"  # QgsSettings group of the choices remembered between runs


class ClassifyDialog(GeoSslDialog):
    """Input layer, model, extent, resolution, tiling, bands, prior, outputs; OK starts the task."""

    def __init__(self, iface, parent=None, running: Running | None = None) -> None:
        import_onnxruntime()  # raises MissingDependencyError with the install hint
        super().__init__(iface, "CSP: Classify layer", parent, running)
        self.task: ClassifyTask | None = None
        self.default_resolution: float | None = None  # what the resolution box was set to for this layer/model
        self.layer_box = QgsMapLayerComboBox()
        self.layer_box.setFilters(Qgis.LayerFilter.RasterLayer)
        self.layer_box.setAllowEmptyLayer(True, "choose a raster layer")
        self.model_box = QComboBox()
        for path in default_model_paths():
            try:
                self._add_model(path)
            except GeoSslError:
                continue  # an unreadable or non-classifier default model is simply not listed
        self.model_file = QgsFileWidget()
        self.model_file.setFilter("ONNX models (*.onnx)")
        on_path_settled(self.model_file, self._model_file_chosen)
        self.extent_box = QComboBox()
        self.extent_box.addItems(EXTENT_CHOICES)
        self.polygon_box = QgsMapLayerComboBox()
        self.polygon_box.setFilters(Qgis.LayerFilter.PolygonLayer)
        self.resolution = _double(0.01, 100000.0, 2, " m/px")
        self.resolution.setToolTip("Default: the layer's own resolution when it is within 2x of the model's, "
                                   "else the model's")
        self.tile_size = _int(1, 4096)
        self.overlap = _double(0.0, 0.9, 2)
        self.stride = _int(0, 4096)
        self.stride.setSpecialValueText("from overlap")
        self.stride.setToolTip("Dense maps: a stride below the tile size gives one class cell per stride, with "
                               "probabilities averaged over the tiles that contain it (e.g. 64 px tiles, 8 px stride). "
                               "1 = every pixel, for classifiers trained on a pixel encoder (Presto): each pixel gets "
                               "the class of the tile centred on it, computed from per-pixel embeddings; only the "
                               "class and probability rasters are written")
        self.bands = BandPicker()
        self.acquired = QgsDateEdit()
        self.acquired.setObjectName("csp_acquisition_date")
        self.acquired.setAllowNull(True)
        self.acquired.clear()
        self.acquired.setToolTip("Acquisition date of the layer (its month is an input of the Presto and Galileo "
                                 "encoders); empty = a date in the file name or metadata, else July "
                                 f"(month {DEFAULT_MONTH})")
        self.batch_size = _int(1, 1024, 16)
        self.use_prior = QCheckBox("fuse P(y|tile) with P(y|location)")
        self.prior_file = QgsFileWidget()
        self.prior_file.setFilter("ONNX models (*.onnx)")
        self.prior_exponent = prior_exponent_box()
        self.force_prior = QCheckBox("also outside the prior's training area (else α = 0 there)")
        self.output_box = QComboBox()
        self.output_box.addItems(OUTPUT_CHOICES)
        self.output_dir = QgsFileWidget()
        self.output_dir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output_dir.lineEdit().setPlaceholderText("[temporary folder]")
        for label, widget in (("Input raster layer", self.layer_box), ("Model", self.model_box),
                              ("… or model file", self.model_file), ("Extent", self.extent_box),
                              ("Polygon layer", self.polygon_box), ("Resolution", self.resolution),
                              ("Tile size (px)", self.tile_size), ("Overlap", self.overlap),
                              ("Stride (px)", self.stride),
                              ("Band mapping", self.bands), ("Acquisition date", self.acquired),
                              ("Batch size", self.batch_size),
                              ("Location prior", self.use_prior), ("Prior model file", self.prior_file),
                              ("Prior exponent α", self.prior_exponent), ("Force the prior", self.force_prior),
                              ("Outputs", self.output_box), ("Output folder", self.output_dir)):
            self.form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        self.main_layout.addWidget(buttons)
        self.model_box.currentIndexChanged.connect(self._apply_model_defaults)
        self.layer_box.layerChanged.connect(self._apply_model_defaults)
        self.use_prior.setEnabled(find_default_model(Kind.LOCATION_PRIOR) is not None)
        on_path_settled(self.prior_file, lambda path: self.use_prior.setEnabled(
            bool(path) or find_default_model(Kind.LOCATION_PRIOR) is not None))
        self._restore()
        self._preselect_layer()
        self._apply_model_defaults()

    def _preselect_layer(self) -> None:
        """The active raster layer when the chosen model can read it, else the first one it can read,
        else none (never a layer the model cannot take, such as a one-band heatmap)."""
        path = self.model_path()
        if path is None or self.iface is None:
            return
        self.layer_box.setLayer(preferred_layer(self.iface.activeLayer(), read_metadata(path)))

    def _restore(self) -> None:
        """The choices of the last run (model, extent, outputs, folder, batch size, prior)."""
        settings = QgsSettings()
        model = settings.value(SETTINGS + "model", "")
        if model and self.model_box.findData(model) < 0 and Path(model).is_file():
            self._model_file_chosen(model)
        if self.model_box.findData(model) >= 0:
            self.model_box.setCurrentIndex(self.model_box.findData(model))
        self.extent_box.setCurrentIndex(int(settings.value(SETTINGS + "extent", 0)))
        self.output_box.setCurrentText(settings.value(SETTINGS + "outputs", self.output_box.currentText()))
        self.output_dir.setFilePath(settings.value(SETTINGS + "folder", ""))
        self.batch_size.setValue(int(settings.value(SETTINGS + "batch_size", self.batch_size.value())))
        self.use_prior.setChecked(settings.value(SETTINGS + "use_prior", False, type=bool))
        prior = settings.value(SETTINGS + "prior_file", "")
        self.prior_file.setFilePath(prior if prior and Path(prior).is_file() else "")

    def _remember(self) -> None:
        settings = QgsSettings()
        for key, value in (("model", self.model_box.currentData() or ""), ("extent", self.extent_box.currentIndex()),
                           ("outputs", self.output_box.currentText()), ("folder", self.output_dir.filePath()),
                           ("batch_size", self.batch_size.value()), ("use_prior", self.use_prior.isChecked()),
                           ("prior_file", self.prior_file.filePath())):
            settings.setValue(SETTINGS + key, value)

    def _add_model(self, path: Path) -> None:
        """List a model by name with its metadata as tooltip; raises GeoSslError if it is not usable."""
        if self.model_box.findData(str(path)) >= 0:
            return
        model = OnnxModel.load(path, threads=1, device="cpu")
        meta = model.metadata
        if meta.kind != Kind.IMAGE_CLASSIFIER:
            raise GeoSslError(f"{path.name} is a model of kind {meta.kind}; Classify needs an image_classifier")
        self.model_box.addItem(meta.name, str(path))
        self.model_box.setItemData(self.model_box.count() - 1, model.describe(), Qt.ItemDataRole.ToolTipRole)

    def _model_file_chosen(self, path: str) -> None:
        if not path:
            return
        try:
            self._add_model(Path(path))
        except GeoSslError as exc:
            show_error(self, str(exc))
            return
        self.model_box.setCurrentIndex(self.model_box.findData(path))

    def model_path(self) -> Path | None:
        data = self.model_box.currentData()
        return Path(data) if data else None

    def _apply_model_defaults(self, *_args) -> None:
        """Fill resolution, tile size, overlap and bands from the model metadata and the layer."""
        path = self.model_path()
        if path is None:
            return
        try:
            meta = read_metadata(path)
        except GeoSslError as exc:
            show_error(self, str(exc))
            return
        layer = self.layer_box.currentLayer()
        layer = layer if isinstance(layer, QgsRasterLayer) and layer.isValid() else None
        self.default_resolution = round(default_resolution_m(layer, meta.gsd_m), self.resolution.decimals())
        self.resolution.setValue(self.default_resolution)
        self.tile_size.setValue(meta.tile_size)
        self.overlap.setValue(meta.overlap)
        self.bands.set_bands(layer, meta)
        self.bands.setToolTip(f"model bands: {', '.join(meta.bands)}")
        self.acquired.setEnabled("month" in meta.input_names)
        self.fit_to_screen()  # 13 band pickers need room, 3 give it back

    def _chosen_bands(self, layer: QgsRasterLayer) -> list[int] | None:
        """The pickers' bands; ``None`` when they show the automatic mapping (prepare() then says how it
        was found); raises :class:`GeoSslError` when only some bands of a model that needs all are set."""
        chosen, unset = self.bands.bands(), self.bands.unset()
        if chosen is None:
            if len(unset) < len(self.bands.names):
                raise GeoSslError(f"choose a layer band for every model band: {', '.join(unset)} not set")
            return None
        meta = read_metadata(self.model_path())
        try:
            return None if chosen == automatic_mapping(layer, meta).layer_bands else chosen
        except GeoSslError:
            return chosen

    def request(self) -> ClassifyRequest:
        """The request described by the widgets; raises :class:`GeoSslError` on missing input."""
        layer = self.layer_box.currentLayer()
        if not isinstance(layer, QgsRasterLayer):
            raise GeoSslError("choose an input raster layer")
        model = self.model_path()
        if model is None:
            raise GeoSslError("choose a model: no default model is installed, pick an .onnx file")
        stem = "".join(c if c.isalnum() else "_" for c in layer.name())
        if self.output_dir.filePath():
            folder = Path(self.output_dir.filePath())
        else:  # one shared temporary folder (nothing is created before the run), unique file names
            folder = Path(tempfile.gettempdir()) / "qgis_csp_outputs"
            stem = f"{stem}_{uuid.uuid4().hex[:8]}"
        outputs = {kind: folder / f"{stem}{SUFFIXES[kind]}" for kind in OUTPUT_CHOICES[self.output_box.currentText()]}
        extent, polygons = self._extent(layer)
        return ClassifyRequest(
            layer=layer, model_path=model, outputs=outputs, extent=extent, polygons=polygons,
            resolution_m=None if self.resolution.value() == self.default_resolution else self.resolution.value(),
            tile_size=self.tile_size.value(), overlap=self.overlap.value(),
            stride=self.stride.value() or None,
            bands=self._chosen_bands(layer), batch_size=self.batch_size.value(),
            acquired=None if self.acquired.isNull() else self.acquired.date().toPyDate(),
            use_prior=self.use_prior.isEnabled() and self.use_prior.isChecked(),
            prior_path=Path(self.prior_file.filePath()) if self.prior_file.filePath() else None,
            prior_exponent=prior_exponent_value(self.prior_exponent), force_prior=self.force_prior.isChecked())

    def _extent(self, layer: QgsRasterLayer):
        """(extent, polygons) in the layer CRS for the chosen extent option."""
        choice = self.extent_box.currentIndex()
        project = QgsProject.instance()
        if choice == 0:
            return None, None
        if choice == 1:
            canvas = self.iface.mapCanvas()
            to_layer = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), layer.crs(), project)
            return to_layer.transformBoundingBox(canvas.extent()), None
        vector = self.polygon_box.currentLayer()
        if vector is None:
            raise GeoSslError("choose a polygon layer for the extent")
        features = vector.selectedFeatures() if choice == 3 else vector.getFeatures()
        geometry = QgsGeometry.unaryUnion([f.geometry() for f in features if f.hasGeometry()])
        if geometry.isNull() or geometry.isEmpty():
            raise GeoSslError(f"the layer {vector.name()!r} has no {'selected ' if choice == 3 else ''}polygons")
        geometry.transform(QgsCoordinateTransform(vector.crs(), layer.crs(), project))
        return None, geometry

    def prepared_job(self) -> ClassifyJob | None:
        """Validate the request; asks before very large runs (None = the user declined)."""
        request = self.request()
        try:
            return prepare(request)
        except TooManyTilesError as exc:
            question = f"{exc}\n\nClassify all {exc.n_tiles:,} tiles anyway?"
            answer = QMessageBox.question(self, "CSP: many tiles", question)
            if answer != QMessageBox.StandardButton.Yes:
                return None
            request.max_tiles = None
            return prepare(request)

    def start(self) -> None:
        """Validate, then run the classification as a background task (the dialog closes; the task's
        messages go to QGIS's message bar)."""
        try:
            job = self.prepared_job()
        except GeoSslError as exc:
            show_error(self, str(exc))
            return
        except QgsCsException as exc:  # e.g. a world-wide canvas extent over a UTM layer
            show_error(self, f"the chosen extent cannot be transformed to the layer CRS: {exc}")
            return
        if job is None:
            return
        self._remember()
        self.task = ClassifyTask(job, self)
        self.running.start(self.task, self)
        self.accept()
        for warning in job.warnings:  # after closing: in QGIS's bar, beside the run's result
            show_info(self, warning, level=Qgis.MessageLevel.Warning)


def _int(low: int, high: int, value: int = 0) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


def _double(low: float, high: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    return box
