"""Accuracy assessment of a classification against reference points/polygons, and the class-area report,
with the shape of the other jobs: :func:`prepare` / :func:`prepare_area_report` (main thread) open the class
map, read the reference samples and check the outputs; ``job.execute`` (any thread) computes and writes the
CSV and HTML all-or-nothing (:class:`~..core.staging.StagedOutputs`)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer, QgsVectorLayer

from ..contract.errors import GeoSslError
from ..core.accuracy import confusion_matrix, olofsson_estimate, sample_accuracy
from ..core.accuracy_report import Assessment
from ..core.class_areas import area_table
from ..core.progress import Canceled, IsCanceled, Progress
from ..core.staging import StagedOutputs, check_output_paths
from ..qgis_io.class_map import RasterClassMap, VectorClassMap
from ..qgis_io.training_samples import SampleSet, collect_samples

#: every map cell inside a reference polygon is a sample (no cap)
ALL_CELLS = 1_000_000
#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection / CWE-1236).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class AssessmentRequest:
    """A classification (class raster or classified polygons with ``map_field``), reference points/polygons
    with a class ``field``, and where to write the per-class table (CSV) and the report (HTML, optional)."""

    classification: QgsMapLayer
    reference: QgsVectorLayer
    field: str
    csv: Path
    html: Path | None = None
    map_field: str = "class"


@dataclass
class AssessmentJob:
    """A validated request: the class map and the reference samples; safe to run in a worker thread."""

    request: AssessmentRequest
    class_map: RasterClassMap | VectorClassMap
    samples: SampleSet

    @property
    def title(self) -> str:
        return f"Accuracy of {self.class_map.layer.name()} against {self.request.reference.name()}.{self.request.field}"

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> Assessment:
        """Assess and write the CSV (and HTML) all-or-nothing."""
        assessment = assess(self.class_map, self.samples)
        if canceled is not None and canceled():
            raise Canceled("accuracy assessment canceled")
        with StagedOutputs() as staging:
            write_csv(staging.path(self.request.csv), assessment.class_rows())
            if self.request.html:
                staging.path(self.request.html).write_text(assessment.html(self.title), encoding="utf-8")
            staging.commit()
        if progress is not None:
            progress(100.0)
        return assessment


def prepare(request: AssessmentRequest) -> AssessmentJob:
    """Open the classification and read the reference samples; :class:`GeoSslError` for bad input."""
    check_output_paths(path for path in (request.csv, request.html) if path)
    class_map = open_class_map(request.classification, request.map_field)
    samples = collect_samples(request.reference, request.field, class_map.crs,
                              QgsProject.instance().transformContext(), class_map.cell_size, ALL_CELLS)
    return AssessmentJob(request, class_map, samples)


@dataclass
class AreaReportRequest:
    """A class raster and where to write its class areas (CSV, optional)."""

    layer: QgsRasterLayer
    csv: Path | None = None


@dataclass
class AreaReportJob:
    """Pixels, hectares and percent of the classified area per class of a class raster."""

    request: AreaReportRequest
    class_map: RasterClassMap

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> list[dict[str, object]]:
        """The table's rows, also written to the CSV when one was asked for."""
        rows = area_table(self.class_map.class_names, self.class_map.class_pixels, self.class_map.class_hectares)
        if self.request.csv:
            with StagedOutputs() as staging:
                write_csv(staging.path(self.request.csv), rows)
                staging.commit()
        if progress is not None:
            progress(100.0)
        return rows


def prepare_area_report(request: AreaReportRequest) -> AreaReportJob:
    """Open the class raster (and count its classes); :class:`GeoSslError` for bad input."""
    check_output_paths([request.csv] if request.csv else [])
    return AreaReportJob(request, RasterClassMap(request.layer))


def open_class_map(layer: QgsMapLayer, field: str = "class") -> RasterClassMap | VectorClassMap:
    if isinstance(layer, QgsRasterLayer):
        return RasterClassMap(layer)
    if isinstance(layer, QgsVectorLayer):
        return VectorClassMap(layer, field)
    raise GeoSslError("the classification must be a class raster or a polygon layer with a class field")


def assess(class_map: RasterClassMap | VectorClassMap, samples: SampleSet) -> Assessment:
    """Confusion matrix, sample measures and Olofsson et al. (2014) estimates of the map at the reference
    ``samples``; classes matched by name."""
    notes = []
    if samples.no_label or samples.no_geometry:
        notes.append(f"{samples.no_label} reference features without a class and {samples.no_geometry} without a "
                     "geometry were skipped")
    mapped = class_map.classes_at(samples.xs, samples.ys)
    on_map = mapped >= 0
    if (~on_map).any():
        notes.append(f"{int((~on_map).sum())} reference samples fall outside the classification or on nodata "
                     "and were not used")
    if not on_map.any():
        raise GeoSslError("no reference sample falls on a classified cell: check that the layers overlap")
    names = list(class_map.class_names)
    lookup = {name.casefold(): i for i, name in enumerate(names)}
    reference_names = [label for label, keep in zip(samples.labels, on_map) if keep]
    missing = sorted({n for n in reference_names if n.casefold() not in lookup}, key=str.casefold)
    if missing:
        notes.append(f"reference classes missing from the map (never mapped, producer's accuracy 0): "
                     f"{', '.join(missing)}")
        for name in missing:
            lookup[name.casefold()] = len(names)
            names.append(name)
    reference_ids = np.array([lookup[n.casefold()] for n in reference_names])
    matrix = confusion_matrix(mapped[on_map], reference_ids, len(names))
    map_hectares = np.concatenate([class_map.class_hectares, np.zeros(len(missing))])
    if samples.geometry == "polygon":
        notes.append("reference polygons: every map cell inside a polygon is one sample; samples of one polygon are "
                     "not independent, so confidence intervals are too narrow")
    unsampled = [names[i] for i in np.flatnonzero((matrix.sum(axis=1) == 0) & (map_hectares > 0))]
    estimate = None
    if unsampled:
        notes.append(f"area-adjusted accuracies and class areas (Olofsson et al. 2014) were not estimated: no "
                     f"reference sample falls in the mapped class(es) {', '.join(unsampled)}, so their true "
                     "classes are unknown; add reference samples there to get them")
    else:
        try:
            estimate = olofsson_estimate(matrix, map_hectares)
        except GeoSslError as exc:
            notes.append(f"area-adjusted accuracies and class areas were not estimated: {exc}")
    return Assessment(names, sample_accuracy(matrix), estimate, map_hectares, notes)


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    """Rows as a CSV file (empty cells for missing values, text made safe for spreadsheets: :func:`csv_cell`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["class"])
        writer.writeheader()
        writer.writerows([{k: csv_cell(v) for k, v in row.items()} for row in rows])


def csv_cell(value: object) -> object:
    """A CSV cell: ``""`` for a missing value; text that a spreadsheet would run as a formula (a class
    named ``=HYPERLINK(…)``, ``@SUM(…)``, ``+1``, ``-1``) prefixed with ``'`` as OWASP recommends, so
    Excel and LibreOffice show it as text; numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
