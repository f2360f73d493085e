"""Processing algorithms csp:location_embedding_heatmap, csp:class_prior_heatmap, csp:prediction_heatmap."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ..contract.errors import GeoSslError
from ..core.heatmap import ENTROPY, MAX_PROBABILITY, MOST_LIKELY, HeatmapResult
from ..core.kinds import HeatmapKind
from ..core.progress import Canceled
from ..jobs.heatmap import DEFAULT_WIDTH, HEATMAP_TYPES, HeatmapRequest, prepare, style_heatmap
from ..qgis_io.crs import to_extent
from ..qgis_io.settings import apply_runtime
from .command_line import log_command
from .prior_exponent_parameter import add_prior_exponent_parameter, prior_exponent_value

GRID_HELP = (f"EXTENT (default: the world, or the CRS's area of use) in CRS (default EPSG:4326); cells of "
             f"CELL_SIZE CRS units, or WIDTH x HEIGHT cells (0 = keep the extent's aspect; default "
             f"{DEFAULT_WIDTH} wide). Cells that have no place on Earth in the CRS (corners of world or polar "
             "projections) are nodata.")


class _HeatmapAlgorithm(QgsProcessingAlgorithm):
    """Shared parameters and run/styling of the three heatmap algorithms."""

    kind: HeatmapKind
    help_text = ""

    def name(self) -> str:
        return f"{self.kind}_heatmap"

    def displayName(self) -> str:  # noqa: N802 (QGIS API names)
        return HEATMAP_TYPES[self.kind].title

    def group(self) -> str:
        return "Heatmaps"

    def groupId(self) -> str:  # noqa: N802
        return "heatmaps"

    def shortHelpString(self) -> str:  # noqa: N802
        return self.help_text

    def createInstance(self) -> _HeatmapAlgorithm:  # noqa: N802
        return type(self)()

    def add_model_parameter(self, description: str) -> None:
        self.addParameter(QgsProcessingParameterFile("MODEL", description, extension="onnx", optional=True))

    def add_grid_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent (empty = world)", optional=True))
        self.addParameter(QgsProcessingParameterCrs("CRS", "Heatmap CRS (empty = EPSG:4326)", "EPSG:4326",
                                                    optional=True))
        self.addParameter(QgsProcessingParameterNumber("CELL_SIZE", "Cell size in CRS units (0 = use WIDTH)",
                                                       Qgis.ProcessingNumberParameterType.Double, 0.0, minValue=0.0))
        for name in ("WIDTH", "HEIGHT"):
            self.addParameter(QgsProcessingParameterNumber(name, f"{name.title()} in cells (0 = automatic)",
                                                           Qgis.ProcessingNumberParameterType.Integer, 0, minValue=0))

    def request(self, parameters, context) -> HeatmapRequest:
        crs = self.parameterAsCrs(parameters, "CRS", context)
        crs = crs if crs.isValid() else QgsCoordinateReferenceSystem("EPSG:4326")
        model = self.parameterAsFile(parameters, "MODEL", context)
        return HeatmapRequest(
            kind=self.kind, output=Path(self.parameterAsOutputLayer(parameters, "OUTPUT", context)),
            model_path=Path(model) if model else None, crs=crs,
            extent=(to_extent(self.parameterAsExtent(parameters, "EXTENT", context, crs))
                    if parameters.get("EXTENT") else None),
            cell_size=self.parameterAsDouble(parameters, "CELL_SIZE", context) or None,
            width=self.parameterAsInt(parameters, "WIDTH", context) or None,
            height=self.parameterAsInt(parameters, "HEIGHT", context) or None,
            choice=(self.parameterAsString(parameters, "CLASS", context)
                    if self.parameterDefinition("CLASS") is not None else ""))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        log_command(self, parameters, context, feedback)
        apply_runtime()  # the device and threads of Settings > Options > CSP
        try:
            job = prepare(self.request(parameters, context))
            feedback.pushInfo(job.description)
            for note in job.notes:
                feedback.pushInfo(note)
            for warning in job.warnings:
                feedback.pushWarning(warning)
            result = job.execute(feedback.setProgress, feedback.isCanceled)
        except Canceled as exc:
            raise QgsProcessingException("canceled; nothing was written") from exc
        except GeoSslError as exc:
            raise QgsProcessingException(str(exc)) from exc
        feedback.pushInfo(result.coverage())
        for note in result.notes:
            feedback.pushInfo(note)
        output = str(result.path)
        if context.willLoadLayerOnCompletion(output):
            details = context.layerToLoadOnCompletionDetails(output)
            details.name = result.title
            details.setPostProcessor(HeatmapStyler(result))
        return {"OUTPUT": output}


class LocationEmbeddingHeatmap(_HeatmapAlgorithm):
    kind = HeatmapKind.LOCATION_EMBEDDING
    help_text = ("Runs a location encoder on every cell centre and shows its embedding as RGB: the 3 principal "
                 "components of the PCA basis stored in the model (or, without one, fitted on the grid, so "
                 "colours then depend on the extent). MODEL defaults to the installed location encoder. "
                 + GRID_HELP)

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_model_parameter("Location encoder (ONNX; empty = default model)")
        self.add_grid_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Embedding heatmap"))


class ClassPriorHeatmap(_HeatmapAlgorithm):
    kind = HeatmapKind.CLASS_PRIOR
    help_text = ("P(y = class | location) of a location-prior model per cell. CLASS: a class name, "
                 f"'{MOST_LIKELY}' (class ids with a paletted legend) or '{ENTROPY}' (nats). MODEL defaults "
                 "to the installed world-region prior. " + GRID_HELP)

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_model_parameter("Location prior (ONNX; empty = default world prior)")
        self.addParameter(QgsProcessingParameterString("CLASS", f"Class name, '{MOST_LIKELY}' or '{ENTROPY}'",
                                                       MOST_LIKELY))
        self.add_grid_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Class-prior heatmap"))


class PredictionHeatmap(_HeatmapAlgorithm):
    kind = HeatmapKind.PREDICTION
    help_text = ("Rasterises a Classify layer result (tile polygons with p_<class> fields) onto one cell per "
                 f"tile: CLASS is a class name, '{MAX_PROBABILITY}', '{ENTROPY}' or '{MOST_LIKELY}'. With "
                 "FUSE_PRIOR the tile probabilities are multiplied by the location prior MODEL at the tile "
                 "centres raised to α (PRIOR_EXPONENT; -1 = the α stored in the prior) and renormalised. "
                 "Skipped (all-nodata) tiles are nodata.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterVectorLayer("INPUT", "Classified tiles (Classify layer result)",
                                                            [Qgis.ProcessingSourceType.VectorPolygon]))
        self.addParameter(QgsProcessingParameterString("CLASS", f"Class name, '{MAX_PROBABILITY}', '{ENTROPY}' "
                                                                f"or '{MOST_LIKELY}'", MAX_PROBABILITY))
        self.addParameter(QgsProcessingParameterBoolean("FUSE_PRIOR", "Fuse with a location prior", False))
        self.add_model_parameter("Location prior to fuse (ONNX; empty = the installed prior over the tiles' classes)")
        add_prior_exponent_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Prediction heatmap"))

    def request(self, parameters, context) -> HeatmapRequest:
        model = self.parameterAsFile(parameters, "MODEL", context)
        return HeatmapRequest(
            kind=self.kind, output=Path(self.parameterAsOutputLayer(parameters, "OUTPUT", context)),
            model_path=Path(model) if model else None,
            choice=self.parameterAsString(parameters, "CLASS", context),
            tiles_layer=self.parameterAsVectorLayer(parameters, "INPUT", context),
            fuse_prior=self.parameterAsBool(parameters, "FUSE_PRIOR", context),
            prior_exponent=prior_exponent_value(self, parameters, context))


class HeatmapStyler(QgsProcessingLayerPostProcessorInterface):
    """Styles a heatmap loaded by Processing like the dialog does.

    QGIS keeps only a C++ pointer to a post-processor, so stylers stay referenced in ``alive``.
    """

    alive: list[HeatmapStyler] = []

    def __init__(self, result: HeatmapResult) -> None:
        super().__init__()
        self.result = result
        HeatmapStyler.alive.append(self)

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        style_heatmap(layer, self.result)


HEATMAP_ALGORITHMS = [LocationEmbeddingHeatmap, ClassPriorHeatmap, PredictionHeatmap]
