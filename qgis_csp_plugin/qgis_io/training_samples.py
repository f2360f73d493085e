"""Labelled points or polygons → sample positions in the raster CRS (QGIS I/O).

A point is one sample. A polygon is sampled on a regular grid of tile centres (spacing = one tile)
inside it, at most ``max_per_polygon`` of them (a seeded random subset), each weighted
``1 / samples of its polygon`` so that a large polygon counts as much as a small one; a polygon
smaller than a tile gets one sample at a point on its surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qgis.core import (
    Qgis,
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsCsException,
    QgsGeometry,
    QgsPointXY,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ..contract.errors import GeoSslError
from ..core.class_labels import label_text


@dataclass
class SampleSet:
    """Sample centres (raster CRS), their class names, source feature (group) and weight."""

    xs: np.ndarray
    ys: np.ndarray
    labels: list[str]
    groups: np.ndarray
    weights: np.ndarray
    geometry: str  # "point" or "polygon"
    no_label: int = 0
    no_geometry: int = 0

    def outside_message(self, extent: QgsRectangle, raster: str) -> str | None:
        """A sentence when every sample centre lies outside ``extent`` (the raster's, in its CRS), else None."""
        inside = ((self.xs >= extent.xMinimum()) & (self.xs <= extent.xMaximum())
                  & (self.ys >= extent.yMinimum()) & (self.ys <= extent.yMaximum()))
        if inside.any() or not len(self.xs):
            return None
        what = "points" if self.geometry == "point" else "polygon samples"
        return (f"{len(self.xs)} of {len(self.xs)} {what} lie outside the raster {raster!r}: check that the "
                "labelled layer covers the raster (and its CRS)")

    def subset(self, keep: np.ndarray) -> SampleSet:
        return SampleSet(self.xs[keep], self.ys[keep], [lab for lab, k in zip(self.labels, keep) if k],
                         self.groups[keep], self.weights[keep], self.geometry, self.no_label, self.no_geometry)


def collect_samples(layer: QgsVectorLayer, field: str, crs: QgsCoordinateReferenceSystem,
                    context: QgsCoordinateTransformContext, spacing: float, max_per_polygon: int = 16,
                    seed: int = 0) -> SampleSet:
    """Samples of every feature of ``layer`` (reprojected to ``crs``); ``spacing`` in ``crs`` units."""
    if layer is None or not layer.isValid():
        raise GeoSslError("the labelled layer is missing or cannot be read")
    if layer.fields().indexOf(field) < 0:
        raise GeoSslError(f"the layer {layer.name()!r} has no field {field!r}")
    kind = QgsWkbTypes.geometryType(layer.wkbType())
    if kind not in (Qgis.GeometryType.Point, Qgis.GeometryType.Polygon):
        raise GeoSslError(f"the labelled layer {layer.name()!r} must hold points or polygons")
    transform = QgsCoordinateTransform(layer.crs(), crs, context)
    rng = np.random.default_rng(seed)
    xs: list[float] = []
    ys: list[float] = []
    labels: list[str] = []
    groups: list[int] = []
    weights: list[float] = []
    no_label = no_geometry = 0
    for feature in layer.getFeatures():
        label = label_text(feature[field])
        geometry = QgsGeometry(feature.geometry())
        if label is None:
            no_label += 1
            continue
        if geometry.isEmpty():
            no_geometry += 1
            continue
        try:
            geometry.transform(transform)
        except QgsCsException:
            no_geometry += 1
            continue
        points = (_point_parts(geometry) if kind == Qgis.GeometryType.Point
                  else _polygon_samples(geometry, spacing, max_per_polygon, rng))
        for x, y in points:
            xs.append(x)
            ys.append(y)
            labels.append(label)
            groups.append(feature.id())
            weights.append(1.0 / len(points))
    return SampleSet(np.array(xs), np.array(ys), labels, np.array(groups, np.int64), np.array(weights),
                     "point" if kind == Qgis.GeometryType.Point else "polygon", no_label, no_geometry)


def _point_parts(geometry: QgsGeometry) -> list[tuple[float, float]]:
    if geometry.isMultipart():
        return [(p.x(), p.y()) for p in geometry.asMultiPoint()]
    point = geometry.asPoint()
    return [(point.x(), point.y())]


def _polygon_samples(geometry: QgsGeometry, spacing: float, cap: int,
                     rng: np.random.Generator) -> list[tuple[float, float]]:
    box = geometry.boundingBox()
    gx = np.arange(box.xMinimum() + spacing / 2, box.xMaximum(), spacing)
    gy = np.arange(box.yMaximum() - spacing / 2, box.yMinimum(), -spacing)
    engine = QgsGeometry.createGeometryEngine(geometry.constGet())
    engine.prepareGeometry()
    inside = []
    for y in gy:
        for x in gx:
            point = QgsGeometry.fromPointXY(QgsPointXY(x, y))  # kept alive while the engine reads it
            if engine.contains(point.constGet()):
                inside.append((float(x), float(y)))
    if len(inside) > cap:
        inside = [inside[i] for i in sorted(rng.choice(len(inside), cap, replace=False))]
    if not inside:
        point = geometry.pointOnSurface().asPoint()
        inside = [(point.x(), point.y())]
    return inside


def layer_class_colors(layer: QgsVectorLayer, field: str, class_names: list[str]) -> list[str]:
    """``#rrggbb`` per class from the layer's categorized style on ``field``; ``[]`` when it has none."""
    renderer = layer.renderer()
    if not isinstance(renderer, QgsCategorizedSymbolRenderer) or renderer.classAttribute() != field:
        return []
    colors = {label_text(c.value()): c.symbol().color().name() for c in renderer.categories()
              if c.symbol() is not None}
    if not all(name in colors for name in class_names):
        return []
    return [colors[name] for name in class_names]
