"""Processing algorithm ``csp:classify``: the same runner as the "Classify layer" dialog."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    Qgis,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
    QgsProcessingUtils,
)

from ..contract.errors import GeoSslError
from ..contract.schema import Kind
from ..core.default_models import find_default_model
from ..core.kinds import OutputKind
from ..core.progress import Canceled
from ..core.tiling import MAX_TILES
from ..jobs.classify import ClassifyRequest, output_layer_name, prepare
from ..qgis_io.layers import TOP_K, set_probability_aliases
from ..qgis_io.settings import apply_runtime
from ..qgis_io.styling import apply_categorized, apply_paletted, apply_pseudocolor, class_colors
from .band_parameters import HELP as BAND_HELP
from .band_parameters import add_band_parameters, band_parameter_values
from .command_line import log_command
from .prior_exponent_parameter import add_prior_exponent_parameter, prior_exponent_value

SENTINEL2_MIN_BANDS = 13
OUTPUT_SUFFIXES = {"OUTPUT_VECTOR": (".gpkg",), "OUTPUT_CLASSES": (".tif", ".tiff"),
                   "OUTPUT_PROBABILITY": (".tif", ".tiff")}
OUTPUT_PARAMETERS = {OutputKind.VECTOR: "OUTPUT_VECTOR", OutputKind.CLASSES: "OUTPUT_CLASSES",
                     OutputKind.PROBABILITY: "OUTPUT_PROBABILITY"}


class ClassifyAlgorithm(QgsProcessingAlgorithm):
    """Tiled ONNX classification of a raster layer into tile polygons and class/probability rasters."""

    def name(self) -> str:
        return "classify"

    def displayName(self) -> str:  # noqa: N802 (QGIS API names)
        return "Classify raster layer"

    def shortHelpString(self) -> str:  # noqa: N802
        return (f"Cuts the raster into tiles (RESOLUTION: by default the layer's own when it lies within 2x of the "
                f"model's, else the model's), classifies each tile with an ONNX "
                f"image classifier (optionally fused with a location prior P(y|lat,lon)) and writes tile "
                f"polygons (class, prob, top-{TOP_K}, entropy, p_<class>), a class-id raster and a "
                f"probability raster. MODEL defaults to the shipped Sentinel-2 model for layers with 13+ "
                f"bands and to the RGB model otherwise. The fusion is P(y|image)·P(y|location)^α with the α "
                f"stored in the prior (chosen on validation data; 1 for priors without one) or PRIOR_EXPONENT; "
                f"outside the prior's training area α = 0 (image only) unless FORCE_PRIOR. {BAND_HELP} "
                f"Tiles without any valid pixel are skipped: class 'nodata', class_id -1. STRIDE (px) below the "
                f"tile size gives dense maps: the class raster has one cell per stride, and each cell's "
                f"probabilities are the mean over all tiles that contain it (e.g. 64 px tiles, 8 px stride: "
                f"49 tiles per cell). STRIDE 1 with a classifier built by csp:train_classifier on a pixel encoder "
                f"(Presto) maps every pixel: each pixel gets the class of the tile centred on it, computed from "
                f"per-pixel embeddings at about the encoder's own speed; only the class and probability rasters "
                f"are written (temporary files when not set), not the tile polygons, and MAX_TILES does not "
                f"apply (one strip of rows is held at a time).")

    def createInstance(self) -> ClassifyAlgorithm:  # noqa: N802
        return ClassifyAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Input raster layer"))
        self.addParameter(QgsProcessingParameterFile("MODEL", "Image classifier (ONNX; empty = default model)",
                                                     extension="onnx", optional=True))
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Processing extent (empty = layer)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "RESOLUTION", "Resolution in metres/pixel (0 = the layer's own within 2x of the model's, else the model's)",
            Qgis.ProcessingNumberParameterType.Double, 0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber("TILE_SIZE", "Tile size in px (0 = model default)",
                                                       Qgis.ProcessingNumberParameterType.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber("OVERLAP", "Tile overlap fraction (-1 = model default)",
                                                       Qgis.ProcessingNumberParameterType.Double, -1.0,
                                                       minValue=-1.0, maxValue=0.95))
        self.addParameter(QgsProcessingParameterNumber(
            "STRIDE", "Stride in px for dense maps (0 = from the overlap; 1 = every pixel with pixel-encoder "
            "classifiers; <= tile size)",
            Qgis.ProcessingNumberParameterType.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber("BATCH_SIZE", "Batch size",
                                                       Qgis.ProcessingNumberParameterType.Integer, 16, minValue=1))
        add_band_parameters(self)
        self.addParameter(QgsProcessingParameterBoolean("USE_LOCATION_PRIOR", "Fuse with a location prior", False))
        self.addParameter(QgsProcessingParameterFile("PRIOR_MODEL", "Location-prior model (empty = default)",
                                                     extension="onnx", optional=True))
        add_prior_exponent_parameter(self)
        self.addParameter(QgsProcessingParameterBoolean(
            "FORCE_PRIOR", "Use the prior outside its training area (else α = 0 there)", False))
        self.addParameter(QgsProcessingParameterNumber("MAX_TILES", "Maximum number of tiles",
                                                       Qgis.ProcessingNumberParameterType.Integer, MAX_TILES,
                                                       minValue=1))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT_VECTOR", "Classified tiles", Qgis.ProcessingSourceType.VectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT_CLASSES", "Class ids", optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT_PROBABILITY", "Probability",
                                                                  optional=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        log_command(self, parameters, context, feedback)
        apply_runtime()  # the device and threads of Settings > Options > CSP
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        if layer is None:
            raise QgsProcessingException("INPUT is not a raster layer")
        try:
            outputs = {kind: self._output_path(parameters, name, context) for kind, name in OUTPUT_PARAMETERS.items()}
            outputs = {kind: path for kind, path in outputs.items() if path is not None}
            stride = self.parameterAsInt(parameters, "STRIDE", context) or None
            if stride == 1 and not {OutputKind.CLASSES, OutputKind.PROBABILITY} & set(outputs):
                outputs.update(self._temporary_rasters(context))
            bands, sensor, acquired = band_parameter_values(self, parameters, context)
            request = ClassifyRequest(
                layer=layer,
                model_path=self._model_path(parameters, context, layer.bandCount()),
                outputs=outputs,
                extent=(self.parameterAsExtent(parameters, "EXTENT", context, layer.crs())
                        if parameters.get("EXTENT") else None),
                resolution_m=self.parameterAsDouble(parameters, "RESOLUTION", context) or None,
                tile_size=self.parameterAsInt(parameters, "TILE_SIZE", context) or None,
                overlap=self._overlap(parameters, context),
                stride=stride,
                bands=bands, sensor=sensor, acquired=acquired,
                batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
                use_prior=self.parameterAsBool(parameters, "USE_LOCATION_PRIOR", context),
                prior_path=Path(p) if (p := self.parameterAsFile(parameters, "PRIOR_MODEL", context)) else None,
                prior_exponent=prior_exponent_value(self, parameters, context),
                force_prior=self.parameterAsBool(parameters, "FORCE_PRIOR", context),
                max_tiles=self.parameterAsInt(parameters, "MAX_TILES", context),
            )
            job = prepare(request)
            for note in job.notes:
                feedback.pushInfo(note)
            for warning in job.warnings:
                feedback.pushWarning(warning)
            feedback.pushInfo(job.plan)
            results, written = job.execute(feedback.setProgress, feedback.isCanceled)
        except Canceled as exc:
            raise QgsProcessingException("canceled; nothing was written") from exc
        except GeoSslError as exc:
            raise QgsProcessingException(str(exc)) from exc
        feedback.pushInfo(results.summary)
        self._style_outputs(context, layer.name(), job.model.metadata, written)
        return {OUTPUT_PARAMETERS[kind]: str(path) for kind, path in written.items()}

    def _output_path(self, parameters, name: str, context) -> Path | None:
        if name != "OUTPUT_VECTOR" and not parameters.get(name):
            return None
        value = self.parameterAsOutputLayer(parameters, name, context)
        if not value:
            return None
        path = Path(value)
        if path.suffix.lower() not in OUTPUT_SUFFIXES[name]:
            raise GeoSslError(f"{name} must be a {' or '.join(OUTPUT_SUFFIXES[name])} file, got {path.name}")
        return path

    def _temporary_rasters(self, context) -> dict[OutputKind, Path]:
        """Stride 1 without raster outputs: temporary class and probability rasters, loaded when the run ends
        (a map of every pixel is written as rasters, not as one polygon per pixel)."""
        paths = {}
        for kind in (OutputKind.CLASSES, OutputKind.PROBABILITY):
            name = OUTPUT_PARAMETERS[kind]
            path = QgsProcessingUtils.generateTempFilename(f"{kind}.tif", context)
            details = QgsProcessingContext.LayerDetails(str(kind), context.project(), name)
            context.addLayerToLoadOnCompletion(path, details)
            paths[kind] = Path(path)
        return paths

    def _model_path(self, parameters, context, band_count: int) -> Path:
        given = self.parameterAsFile(parameters, "MODEL", context)
        if given:
            return Path(given)
        prefer = "s2" if band_count >= SENTINEL2_MIN_BANDS else "rgb"
        found = find_default_model(Kind.IMAGE_CLASSIFIER, prefer=prefer)
        if found is None:
            raise GeoSslError("no MODEL given and no default image classifier is installed in models/")
        return found

    def _overlap(self, parameters, context) -> float | None:
        value = self.parameterAsDouble(parameters, "OVERLAP", context)
        return None if value < 0 else value

    def _style_outputs(self, context, layer_name: str, meta, written: dict[OutputKind, Path]) -> None:
        """Name and style the outputs that Processing loads into the project when the run ends."""
        for kind, path in written.items():
            if context.willLoadLayerOnCompletion(str(path)):
                details = context.layerToLoadOnCompletionDetails(str(path))
                details.name = output_layer_name(layer_name, meta.name, kind)
                details.setPostProcessor(OutputStyler(kind, meta.class_names, meta.class_colors))


class OutputStyler(QgsProcessingLayerPostProcessorInterface):
    """Applies the same renderers as the dialog to a loaded output layer.

    QGIS keeps only a C++ pointer to a post-processor, so every styler stays referenced in
    ``alive`` (a few bytes per run) to outlive the algorithm instance that created it.
    """

    alive: list[OutputStyler] = []

    def __init__(self, kind: OutputKind, class_names: list[str], colors: list[str]) -> None:
        super().__init__()
        self.kind, self.class_names, self.colors = kind, class_names, class_colors(class_names, colors)
        OutputStyler.alive.append(self)

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        if self.kind == OutputKind.VECTOR:
            set_probability_aliases(layer, self.class_names)
            apply_categorized(layer, "class", [(c, c, col) for c, col in zip(self.class_names, self.colors)])
        elif self.kind == OutputKind.CLASSES:
            apply_paletted(layer, [(i, c, col) for i, (c, col) in enumerate(zip(self.class_names, self.colors))])
        else:
            apply_pseudocolor(layer, 0.0, 1.0)
