"""Processing algorithm ``csp:train_classifier``: labelled points/polygons + an image encoder → ONNX classifier."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    Qgis,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ..contract.errors import GeoSslError
from ..core.default_models import DEFAULT_ENCODERS, default_image_encoder
from ..core.head_selection import C_GRID
from ..core.progress import Canceled
from ..core.tile_features import FEATURE_SETS
from ..jobs.train_classifier import AUTO, MAX_FOLDS, TrainRequest, describe_request, prepare
from ..qgis_io.layer_facts import file_name
from ..qgis_io.provider_reader import band_labels
from .band_parameters import HELP as BAND_HELP
from .band_parameters import add_band_parameters, band_parameter_values
from .command_line import log_command

FEATURE_CHOICES = (AUTO, *FEATURE_SETS)


class TrainClassifierAlgorithm(QgsProcessingAlgorithm):
    """Few-label classifier: logistic regression on self-supervised embeddings, written as one ONNX model."""

    def name(self) -> str:
        return "train_classifier"

    def displayName(self) -> str:  # noqa: N802 (QGIS API names)
        return "Train classifier from labelled points/polygons"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Embeds the tile centred on each labelled point (or tiles sampled inside each polygon, capped "
                "and weighted per polygon) with a self-supervised image encoder and computes per-band tile "
                "statistics (mean, std; for points also the centre pixel's spectrum). FEATURES 'auto' and C = 0 "
                "choose the features (statistics, embedding, or both) and the L2 strength C "
                f"({', '.join(f'{c:g}' for c in C_GRID)}) by k-fold cross-validation on your labels "
                "(points/polygons held out whole) and log every candidate's accuracy; the reported accuracy is "
                "nested (the choice repeated inside each fold). A class-balanced L2 logistic regression on the "
                "standardised features (numpy) is then written as one ONNX image classifier (encoder and/or "
                "statistics computed inside the graph + head, class names, colours of the layer's categorized "
                "style) that 'Classify raster layer' runs. Points outside the raster or on nodata are dropped and "
                "counted; a layer in another CRS is reprojected. OUTPUT_PRIOR optionally also writes a location "
                "prior over the same classes from the samples' (lat, lon), for 'Fuse with a location prior' in "
                "Classify: a location encoder + the same kind of head, a kNN prior that carries the samples (a "
                "kernel vote on great-circle distance, flat far from them), or a mixture of both, whichever has the "
                "lowest cross-validated log-loss (the choice is logged and stored in the model). ENCODER defaults "
                "to the first installed "
                f"default encoder that can read the layer's bands ({', '.join(DEFAULT_ENCODERS)}). {BAND_HELP}")

    def createInstance(self) -> TrainClassifierAlgorithm:  # noqa: N802
        return TrainClassifierAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Raster layer"))
        self.addParameter(QgsProcessingParameterFile("ENCODER", "Image encoder (ONNX; empty = default encoder)",
                                                     extension="onnx", optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "LABELS", "Labelled points or polygons",
            [Qgis.ProcessingSourceType.VectorPoint, Qgis.ProcessingSourceType.VectorPolygon]))
        self.addParameter(QgsProcessingParameterField("CLASS_FIELD", "Class field (text or integer)",
                                                      parentLayerParameterName="LABELS"))
        add_band_parameters(self)
        self.addParameter(QgsProcessingParameterNumber(
            "RESOLUTION", "Resolution in metres/pixel (0 = the layer's own within 2x of the encoder's, else the "
                          "encoder's)", Qgis.ProcessingNumberParameterType.Double, 0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber("TILE_SIZE", "Tile size in px (0 = encoder default)",
                                                       Qgis.ProcessingNumberParameterType.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            "FEATURES", "Features (auto = chosen by cross-validation)", list(FEATURE_CHOICES), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "C", "Inverse L2 strength C (as scikit-learn; 0 = chosen by cross-validation)",
            Qgis.ProcessingNumberParameterType.Double, 0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            "FOLDS", "Cross-validation folds", Qgis.ProcessingNumberParameterType.Integer, MAX_FOLDS, minValue=2))
        self.addParameter(QgsProcessingParameterNumber("MAX_PER_POLYGON", "Maximum tiles per polygon",
                                                       Qgis.ProcessingNumberParameterType.Integer, 16, minValue=1))
        self.addParameter(QgsProcessingParameterString("NAME", "Model name (empty = file name)", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", "Classifier model", "ONNX (*.onnx)"))
        self.addParameter(QgsProcessingParameterFile(
            "LOCATION_ENCODER", "Location encoder for the optional prior (ONNX; empty = default; none: a kNN prior)",
            extension="onnx",
            optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_PRIOR", "Optional location prior P(class | lat, lon) over the same classes", "ONNX (*.onnx)",
            optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("CV_ACCURACY", "Cross-validated overall accuracy (nested when "
                                                                "features or C were chosen)"))
        self.addOutput(QgsProcessingOutputString("FEATURES", "The features the classifier uses"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        log_command(self, parameters, context, feedback)
        try:
            layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
            bands, sensor, acquired = band_parameter_values(self, parameters, context)
            request = TrainRequest(
                layer=layer,
                encoder_path=self._encoder_path(parameters, context, layer, bands, sensor),
                labels=self.parameterAsVectorLayer(parameters, "LABELS", context),
                class_field=(self.parameterAsStrings(parameters, "CLASS_FIELD", context) or [""])[0],
                output=Path(self.parameterAsFileOutput(parameters, "OUTPUT", context)),
                name=self.parameterAsString(parameters, "NAME", context),
                bands=bands, sensor=sensor, acquired=acquired,
                resolution_m=self.parameterAsDouble(parameters, "RESOLUTION", context) or None,
                tile_size=self.parameterAsInt(parameters, "TILE_SIZE", context) or None,
                c=self.parameterAsDouble(parameters, "C", context) or None,
                features=FEATURE_CHOICES[self.parameterAsEnum(parameters, "FEATURES", context)],
                folds=self.parameterAsInt(parameters, "FOLDS", context),
                max_per_polygon=self.parameterAsInt(parameters, "MAX_PER_POLYGON", context),
                prior_output=(Path(p) if (p := self.parameterAsFileOutput(parameters, "OUTPUT_PRIOR", context))
                              else None),
                location_encoder_path=Path(p) if (p := self.parameterAsFile(parameters, "LOCATION_ENCODER", context))
                else None,
            )
            job = prepare(request)
            for note in job.notes:
                feedback.pushInfo(note)
            for warning in job.warnings:
                feedback.pushWarning(warning)
            feedback.pushInfo(describe_request(job))
            result = job.execute(feedback.setProgress, feedback.isCanceled)
        except Canceled as exc:
            raise QgsProcessingException("canceled; nothing was written") from exc
        except GeoSslError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for line in result.lines():
            feedback.pushInfo(line)
        outputs = {"OUTPUT": str(result.path), "CV_ACCURACY": result.cv_accuracy,
                   "FEATURES": result.selection.chosen.features}
        if result.prior_path is not None:
            outputs["OUTPUT_PRIOR"] = str(result.prior_path)
        return outputs

    def _encoder_path(self, parameters, context, layer, bands, sensor) -> Path:
        given = self.parameterAsFile(parameters, "ENCODER", context)
        if given:
            return Path(given)
        if layer is None:
            raise GeoSslError("INPUT is not a raster layer")
        return default_image_encoder(band_labels(layer), file_name(layer), bands, sensor)
