"""Processing algorithms ``csp:accuracy_assessment`` and ``csp:class_area_report``."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    Qgis,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)
from qgis.PyQt.QtCore import QMetaType

from ..contract.errors import GeoSslError
from ..core.progress import Canceled
from ..jobs.assessment import AreaReportRequest, AssessmentRequest, prepare, prepare_area_report
from .command_line import log_command


class AccuracyAssessmentAlgorithm(QgsProcessingAlgorithm):
    """Confusion matrix, kappa, user's/producer's accuracy, F1 and Olofsson et al. (2014) area estimates."""

    def name(self) -> str:
        return "accuracy_assessment"

    def displayName(self) -> str:  # noqa: N802
        return "Accuracy assessment"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Compares a classification (a class raster, e.g. Classify's class ids, or classified tile "
                "polygons with a 'class' field) with reference points or polygons (every map cell inside a "
                "polygon is a sample). Classes are matched by name. Reports the confusion matrix (rows = map, "
                "columns = reference), overall accuracy, Cohen's kappa, user's and producer's accuracy and F1 "
                "per class, and the area-adjusted accuracies and class areas with 95 % confidence intervals of "
                "Olofsson et al. (2014), Remote Sensing of Environment 148, with the map classes as strata. "
                "Reference classes missing from the map are reported. Use samples not used for training.")

    def createInstance(self) -> AccuracyAssessmentAlgorithm:  # noqa: N802
        return AccuracyAssessmentAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterMapLayer(
            "CLASSIFICATION", "Classification (class raster or classified polygons)",
            types=[Qgis.ProcessingSourceType.Raster, Qgis.ProcessingSourceType.VectorPolygon]))
        self.addParameter(QgsProcessingParameterString("MAP_FIELD", "Class field of classified polygons", "class"))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "REFERENCE", "Reference points or polygons", [Qgis.ProcessingSourceType.VectorPoint,
                                                          Qgis.ProcessingSourceType.VectorPolygon]))
        self.addParameter(QgsProcessingParameterField("REFERENCE_FIELD", "Reference class field",
                                                      parentLayerParameterName="REFERENCE"))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_CSV", "Per-class table (CSV)", "CSV (*.csv)"))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_HTML", "Report (HTML)", "HTML (*.html)",
                                                                optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT_TABLE", "Accuracy table",
                                                            Qgis.ProcessingSourceType.Vector, optional=True))
        for name, description in (("SAMPLES", "Reference samples used"), ("OVERALL_ACCURACY", "Overall accuracy"),
                                  ("KAPPA", "Cohen's kappa"),
                                  ("OVERALL_ACCURACY_ADJ", "Area-adjusted overall accuracy"),
                                  ("OVERALL_CI95", "95 % confidence half-width of the adjusted overall accuracy")):
            self.addOutput(QgsProcessingOutputNumber(name, description))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        log_command(self, parameters, context, feedback)
        csv_path = Path(self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context))
        html_path = self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context)
        try:
            job = prepare(AssessmentRequest(
                classification=self.parameterAsLayer(parameters, "CLASSIFICATION", context),
                reference=self.parameterAsVectorLayer(parameters, "REFERENCE", context),
                field=(self.parameterAsStrings(parameters, "REFERENCE_FIELD", context) or [""])[0],
                csv=csv_path, html=Path(html_path) if html_path else None,
                map_field=self.parameterAsString(parameters, "MAP_FIELD", context)))
            assessment = job.execute(feedback.setProgress, feedback.isCanceled)
        except Canceled as exc:
            raise QgsProcessingException("canceled; nothing was written") from exc
        except GeoSslError as exc:
            raise QgsProcessingException(str(exc)) from exc
        rows = assessment.class_rows()
        for key, value in assessment.summary().items():
            feedback.pushInfo(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
        for note in assessment.notes:
            feedback.pushWarning(note)
        results = {"OUTPUT_CSV": str(csv_path), **{k.upper(): v for k, v in assessment.summary().items()}}
        if html_path:
            results["OUTPUT_HTML"] = html_path
        table = write_table(self, parameters, context, "OUTPUT_TABLE", rows)
        if table is not None:
            results["OUTPUT_TABLE"] = table
        return results


class ClassAreaReportAlgorithm(QgsProcessingAlgorithm):
    """Pixels, hectares and percent of the classified area per class of a class raster."""

    def name(self) -> str:
        return "class_area_report"

    def displayName(self) -> str:  # noqa: N802
        return "Class area report"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Counts the pixels of each class of a class raster (nodata excluded) and converts them to "
                "hectares (ellipsoid-free: projected pixel sizes, or exact spherical row areas for geographic "
                "rasters) and percent of the classified area. These are mapped areas; for error-adjusted areas "
                "with confidence intervals run 'Accuracy assessment' with reference samples.")

    def createInstance(self) -> ClassAreaReportAlgorithm:  # noqa: N802
        return ClassAreaReportAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Class raster"))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_CSV", "Class areas (CSV)", "CSV (*.csv)",
                                                                optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT_TABLE", "Class area table",
                                                            Qgis.ProcessingSourceType.Vector, optional=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        log_command(self, parameters, context, feedback)
        csv_path = self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context)
        try:
            job = prepare_area_report(AreaReportRequest(self.parameterAsRasterLayer(parameters, "INPUT", context),
                                                        Path(csv_path) if csv_path else None))
            rows = job.execute(feedback.setProgress, feedback.isCanceled)
        except GeoSslError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for row in rows:
            feedback.pushInfo(f"{row['class']}: {row['pixels']:,} px, {row['hectares']:,.2f} ha, "
                              f"{row['percent']:.2f} %")
        results = {"OUTPUT_CSV": csv_path} if csv_path else {}
        table = write_table(self, parameters, context, "OUTPUT_TABLE", rows)
        if table is not None:
            results["OUTPUT_TABLE"] = table
        return results


def write_table(algorithm: QgsProcessingAlgorithm, parameters, context, name: str,
                rows: list[dict[str, object]]) -> str | None:
    """Rows as a geometry-less table layer (sink ``name``); ``None`` when the output was not requested."""
    if not rows or parameters.get(name) is None:
        return None
    fields = QgsFields()
    for key, value in rows[0].items():
        kind = (QMetaType.Type.QString if isinstance(value, str) else QMetaType.Type.Int if isinstance(value, int)
                else QMetaType.Type.Double)
        fields.append(QgsField(key, kind))
    sink, dest = algorithm.parameterAsSink(parameters, name, context, fields, Qgis.WkbType.NoGeometry)
    if sink is None:
        return None
    for row in rows:
        feature = QgsFeature(fields)
        feature.setAttributes(list(row.values()))
        sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
    return dest
