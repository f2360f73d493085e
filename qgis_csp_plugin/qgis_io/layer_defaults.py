"""Which project layers and fields a dialog preselects: the toolbar's Processing dialogs open filled.

Rules: the active layer when it fits, else the first fitting layer of the Layers panel; a class field is
the first text or integer field that is not the GeoPackage feature id; the reference layer of an
assessment is never the classification itself nor another classified-tiles layer; the plugin's own
GeoTIFFs (heatmaps, class rasters) are never offered as images.
"""

from __future__ import annotations

from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsCoordinateTransform,
    QgsCsException,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QMetaType

from ..core.geotiff import OUTPUT_KEY
from ..core.tile_table import PROBABILITY_PREFIX

ID_FIELDS = {"fid", "ogc_fid"}
CLASS_TYPES = {QMetaType.Type.QString, QMetaType.Type.Int, QMetaType.Type.LongLong, QMetaType.Type.UInt,
               QMetaType.Type.ULongLong}
INTEGER_RASTER_TYPES = {Qgis.DataType.Byte, Qgis.DataType.Int8, Qgis.DataType.UInt16, Qgis.DataType.Int16,
                        Qgis.DataType.UInt32, Qgis.DataType.Int32}


def project_layers() -> list[QgsMapLayer]:
    """The project's layers in Layers-panel order (top first)."""
    root = QgsProject.instance().layerTreeRoot()
    return [node.layer() for node in root.findLayers() if node.layer() is not None] if root is not None else []


def pick(active: QgsMapLayer | None, fits, exclude: tuple = ()) -> QgsMapLayer | None:
    """``active`` when ``fits(active)``, else the first fitting layer of the project; never one in ``exclude``."""
    candidates = ([active] if active is not None else []) + project_layers()
    return next((layer for layer in candidates if layer not in exclude and fits(layer)), None)


def class_field(layer: QgsMapLayer | None) -> str | None:
    """The first text or integer field that is not a feature id (``fid``), or None."""
    if not isinstance(layer, QgsVectorLayer):
        return None
    return next((f.name() for f in layer.fields()
                 if f.type() in CLASS_TYPES and f.name().casefold() not in ID_FIELDS), None)


def is_raster(layer: QgsMapLayer | None) -> bool:
    return isinstance(layer, QgsRasterLayer) and layer.isValid()


def is_plugin_output(layer: QgsMapLayer | None) -> bool:
    """A GeoTIFF this plugin wrote (a heatmap, class or probability raster), not an image to classify."""
    if not is_raster(layer) or layer.providerType() != "gdal":
        return False
    dataset = gdal.OpenEx(layer.source().split("|")[0], gdal.OF_RASTER)
    return dataset is not None and dataset.GetMetadataItem(OUTPUT_KEY) is not None


def is_labelled(layer: QgsMapLayer | None) -> bool:
    """Points or polygons with a class field (training labels, reference samples), not classified tiles."""
    return (isinstance(layer, QgsVectorLayer) and layer.isValid() and not is_classified_tiles(layer)
            and QgsWkbTypes.geometryType(layer.wkbType()) in (Qgis.GeometryType.Point, Qgis.GeometryType.Polygon)
            and class_field(layer) is not None)


def is_classified_tiles(layer: QgsMapLayer | None) -> bool:
    """A *Classify layer* tile layer: a ``class`` field and ``p_<class>`` probabilities."""
    return (isinstance(layer, QgsVectorLayer) and layer.fields().indexOf("class") >= 0
            and any(f.name().startswith(PROBABILITY_PREFIX) for f in layer.fields()))


def is_class_raster(layer: QgsMapLayer | None) -> bool:
    """A one-band integer raster shown by class (e.g. *Classify layer*'s class ids)."""
    return (is_raster(layer) and layer.bandCount() == 1
            and layer.dataProvider().dataType(1) in INTEGER_RASTER_TYPES
            and isinstance(layer.renderer(), QgsPalettedRasterRenderer))


def train_classifier_inputs(active: QgsMapLayer | None) -> dict[str, object]:
    """INPUT, LABELS and CLASS_FIELD of ``csp:train_classifier`` from the project (layer ids; missing ones
    left out)."""
    raster = pick(active, lambda layer: is_raster(layer) and not is_class_raster(layer) and not is_plugin_output(layer))
    labels = pick(active, lambda layer: is_labelled(layer) and (raster is None or overlaps(layer, raster)))
    return _present({"INPUT": raster, "LABELS": labels, "CLASS_FIELD": class_field(labels)})


def assessment_inputs(active: QgsMapLayer | None) -> dict[str, object]:
    """CLASSIFICATION, REFERENCE and REFERENCE_FIELD of ``csp:accuracy_assessment`` (missing ones left out):
    a class raster (else classified tiles) and reference samples that are another layer and overlap it.
    An active labelled layer is the reference (the analyst just loaded or selected it)."""
    def class_map(layer: QgsMapLayer) -> bool:
        return is_class_raster(layer) or is_classified_tiles(layer)

    if is_labelled(active):
        reference = active
        classification = (pick(None, lambda layer: is_class_raster(layer) and overlaps(layer, reference))
                          or pick(None, lambda layer: class_map(layer) and overlaps(layer, reference)))
    else:
        classification = pick(active, is_class_raster) or pick(active, is_classified_tiles)
        reference = pick(None, lambda layer: is_labelled(layer) and (classification is None
                                                                       or overlaps(layer, classification)),
                         exclude=(classification,))
    return _present({"CLASSIFICATION": classification, "REFERENCE": reference,
                     "REFERENCE_FIELD": class_field(reference)})


def overlaps(layer: QgsMapLayer, other: QgsMapLayer) -> bool:
    """Whether the extents of two layers (in any CRSs) overlap."""
    try:
        to_other = QgsCoordinateTransform(layer.crs(), other.crs(), QgsProject.instance())
        return to_other.transformBoundingBox(layer.extent()).intersects(other.extent())
    except QgsCsException:
        return False


def _present(values: dict[str, object]) -> dict[str, object]:
    """Parameter values as Processing dialogs take them (layers by id); ``None`` ones left out."""
    return {key: value.id() if isinstance(value, QgsMapLayer) else value
            for key, value in values.items() if value is not None}
