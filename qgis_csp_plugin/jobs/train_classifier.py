"""The runner behind ``csp:train_classifier``: labelled points/polygons → embeddings → logistic head →
one ONNX ``image_classifier`` (encoder + head) that *Classify layer* runs like any other model.
Optionally also a ``location_prior`` over the same classes from the (lat, lon) of the same samples, for
*Classify layer*'s fusion P(y|image)·P(y|location): a location encoder (e.g. CSP) + a logistic head, a
kNN prior carrying the samples, or a mixture of both, chosen by cross-validated log-loss
(:mod:`..core.prior_recipe`).

:func:`prepare` (main thread) validates the request and collects the samples; ``job.execute``
(any thread) embeds the tiles, cross-validates, fits and writes the model(s) all-or-nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qgis.core import Qgis, QgsProject, QgsRasterLayer, QgsUnitTypes, QgsVectorLayer

from ..contract.errors import CspError
from ..contract.onnx_model import OnnxModel
from ..contract.schema import SCHEMA_VERSION, ModelMetadata
from ..core.accuracy import confusion_matrix, sample_accuracy
from ..core.band_mapping import default_bands, positional_warning, validate_bands
from ..core.class_labels import check_training_labels
from ..core.classify import fill_invalid, read_strip
from ..core.default_models import find_default_model
from ..core.logistic_regression import cross_validate, fit_logistic, group_folds
from ..core.onnx_head import append_softmax_head
from ..core.prior_recipe import PriorChoice, choose_prior, prior_encoder_metadata, prior_model_bytes
from ..core.progress import Canceled, IsCanceled, Progress
from ..core.radiometry import BandTransform
from ..core.staging import StagedOutputs
from ..core.tiling import Extent, Strip, resolution_in_layer_units
from ..qgis_io.crs import cell_to_latlon
from ..qgis_io.provider_reader import ProviderReader, band_labels
from ..qgis_io.styling import class_colors
from ..qgis_io.training_samples import SampleSet, collect_samples, layer_class_colors
from .classify import _radiometric_transform, _sample_values

MAX_FOLDS = 5


@dataclass
class TrainRequest:
    """What to train on and where to write the classifier."""

    layer: QgsRasterLayer
    encoder_path: Path
    labels: QgsVectorLayer
    class_field: str
    output: Path
    name: str = ""
    bands: list[int] | None = None
    resolution_m: float | None = None
    tile_size: int | None = None
    c: float = 1.0
    folds: int = MAX_FOLDS
    max_per_polygon: int = 16
    batch_size: int = 32
    seed: int = 0
    prior_output: Path | None = None
    location_encoder_path: Path | None = None


@dataclass
class TrainClassifierJob:
    """A validated request with its encoder(s), pixel reader and samples; safe to run in a worker thread."""

    request: TrainRequest
    encoder: OnnxModel
    reader: ProviderReader
    transform: BandTransform | None
    samples: SampleSet
    res: tuple[float, float]
    tile_size: int
    location_encoder: OnnxModel | None = None  # for the learned and hybrid priors; None: a kNN prior only
    latlon: np.ndarray | None = None  # (N, 2) (lat, lon) degrees of every sample, for the prior
    warnings: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        return f"CSP: train a classifier on {self.request.labels.name()}"

    def execute(self, progress: Progress | None = None, canceled: IsCanceled | None = None) -> TrainResult:
        """Embed, cross-validate, fit and write the model(s); nothing is written on error or cancel."""
        return train(self, progress, canceled)


@dataclass
class TrainResult:
    class_names: list[str]
    counts: list[int]
    dropped: int
    cv_accuracy: float
    cv_f1: list[float]
    folds: int
    path: Path
    prior_path: Path | None = None
    prior_cv_accuracy: float | None = None
    prior_recipe: str | None = None

    def lines(self) -> list[str]:
        per_class = ", ".join(f"{n} {c} (F1 {f:.2f})" for n, c, f in zip(self.class_names, self.counts, self.cv_f1))
        return [f"samples per class: {per_class}",
                f"{self.dropped} samples outside the raster or on nodata were dropped",
                f"{self.folds}-fold cross-validated accuracy {self.cv_accuracy:.3f}, macro F1 "
                f"{float(np.nanmean(self.cv_f1)):.3f}", f"wrote {self.path}"] + (
                [f"location prior ({self.prior_recipe}, chosen by cross-validated log-loss): {self.folds}-fold "
                 f"cross-validated accuracy {self.prior_cv_accuracy:.3f} (location alone); wrote {self.prior_path}"]
                if self.prior_path else [])


def prepare(request: TrainRequest) -> TrainClassifierJob:
    """Validate ``request``; raises :class:`CspError` with a clear message (nothing written)."""
    layer = request.layer
    if layer is None or not layer.isValid():
        raise CspError("the input raster layer is missing or cannot be read")
    if not layer.crs().isValid():
        raise CspError(f"the layer {layer.name()!r} has no coordinate reference system")
    if request.output.suffix.lower() != ".onnx":
        raise CspError(f"the output must be a .onnx file, got {request.output.name}")
    encoder = OnnxModel.load(request.encoder_path)
    meta = encoder.metadata
    if meta.kind != "image_encoder":
        raise CspError(f"{encoder.path.name} is a {meta.kind} model; training needs an image_encoder")
    labels = band_labels(layer)
    bands = validate_bands(request.bands or default_bands(meta.bands, labels), meta.bands, len(labels))
    warnings = [] if request.bands else [w for w in [positional_warning(meta.bands, labels)] if w]
    crs = layer.crs()
    extent = layer.extent()
    units_per_metre = QgsUnitTypes.fromUnitToUnitFactor(Qgis.DistanceUnit.Meters, crs.mapUnits())
    res = resolution_in_layer_units(request.resolution_m or meta.gsd_m, crs.isGeographic(),
                                    extent.center().y() if crs.isGeographic() else 0.0, units_per_metre)
    tile_size = request.tile_size or meta.tile_size
    samples = collect_samples(request.labels, request.class_field, crs, QgsProject.instance().transformContext(),
                              tile_size * res[0], request.max_per_polygon, request.seed)
    check_training_labels(samples.labels, request.class_field)  # early message; re-checked after nodata
    reader = ProviderReader(layer.dataProvider().clone(), bands, layer.name())
    transform, warning = _radiometric_transform(_sample_values(reader, extent), meta.normalization)
    warnings += [warning] if warning else []
    job = TrainClassifierJob(request, encoder, reader, transform, samples, res, tile_size, warnings=warnings)
    if request.prior_output is not None:
        _prepare_prior(job)
    return job


def _prepare_prior(job: TrainClassifierJob) -> None:
    """Load the location encoder (if any: without one the prior is a kNN prior) and place every sample at
    its (lat, lon)."""
    request = job.request
    if request.prior_output.suffix.lower() != ".onnx" or request.prior_output == request.output:
        raise CspError(f"the location-prior output must be another .onnx file, got {request.prior_output.name}")
    path = request.location_encoder_path or find_default_model("location_encoder")
    if path is None:
        job.warnings.append("no location encoder given or installed in models/: the location prior will be a "
                            "kNN prior of the samples")
    else:
        job.location_encoder = OnnxModel.load(path)
    if job.location_encoder is not None and job.location_encoder.metadata.kind != "location_encoder":
        raise CspError(f"{job.location_encoder.path.name} is a {job.location_encoder.metadata.kind} model; "
                       "the location prior needs a location_encoder")
    to_latlon = cell_to_latlon(request.layer.crs(), job.res[0])
    latlon, valid = to_latlon(job.samples.xs.astype(np.float64), job.samples.ys.astype(np.float64))
    if not valid.all():
        raise CspError("some samples have no place on Earth in the raster's CRS: the location prior cannot be trained")
    job.latlon = latlon


def embed_samples(job: TrainClassifierJob, progress: Progress | None = None,
                  canceled: IsCanceled | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings (M, D), kept (N,) bool)``: a sample is dropped when its centre pixel is outside
    the raster or nodata."""
    samples, size = job.samples, job.tile_size
    n_bands = len(job.encoder.metadata.bands)
    half_x, half_y = size * job.res[0] / 2, size * job.res[1] / 2
    kept = np.zeros(len(samples.xs), dtype=bool)
    tiles: list[np.ndarray] = []
    embeddings: list[np.ndarray] = []
    for i, (x, y) in enumerate(zip(samples.xs, samples.ys)):
        if canceled is not None and canceled():
            raise Canceled("training canceled")
        strip = Strip(0, Extent(x - half_x, y - half_y, x + half_x, y + half_y), size, size)
        pixels, valid = read_strip(job.reader, strip, n_bands)
        if not valid[size // 2, size // 2]:
            continue
        if not valid.all():
            fill_invalid(pixels, valid)
        kept[i] = True
        tiles.append(pixels)
        if len(tiles) == job.request.batch_size:
            embeddings.append(_embed(job, tiles))
        if progress is not None:
            progress(90.0 * (i + 1) / len(samples.xs))
    if tiles:
        embeddings.append(_embed(job, tiles))
    dim = job.encoder.metadata.embedding_dim
    return (np.concatenate(embeddings) if embeddings else np.zeros((0, dim), np.float32)), kept


def _embed(job: TrainClassifierJob, tiles: list[np.ndarray]) -> np.ndarray:
    batch = np.stack(tiles)
    tiles.clear()
    if job.transform is not None:
        job.transform.apply(batch)
    return job.encoder.run(image=batch)


def train(job: TrainClassifierJob, progress: Progress | None = None, canceled: IsCanceled | None = None) -> TrainResult:
    """See :meth:`TrainClassifierJob.execute`."""
    request = job.request
    embeddings, kept = embed_samples(job, progress, canceled)
    samples = job.samples.subset(kept)
    class_names = check_training_labels(samples.labels, request.class_field, job.samples.labels)
    y = np.array([class_names.index(label) for label in samples.labels])
    counts = np.bincount(y, minlength=len(class_names))
    groups_per_class = min(len(np.unique(samples.groups[y == k])) for k in range(len(class_names)))
    folds = max(2, min(request.folds, groups_per_class))
    predicted = cross_validate(embeddings, y, len(class_names), samples.groups, folds, request.c,
                               samples.weights, request.seed)
    cv = sample_accuracy(confusion_matrix(predicted, y, len(class_names)))
    metadata = _classifier_metadata(job, class_names, counts, int((~kept).sum()), cv.overall, cv.f1, folds)
    weight, bias = fit_logistic(embeddings, y, len(class_names), request.c, samples.weights).folded()
    outputs = [(metadata, request.output, lambda meta: append_softmax_head(
        job.encoder.path.read_bytes(), weight, bias, meta.to_props(), meta.describe()))]
    choice = None
    if job.latlon is not None:
        latlon = job.latlon[kept]
        encoder = job.location_encoder
        location_embeddings = encoder.run(latlon=latlon.astype(np.float32)) if encoder is not None else None
        choice = choose_prior(latlon, y, len(class_names), group_folds(y, samples.groups, folds, request.seed),
                              location_embeddings, request.c, samples.weights)
        encoder_bytes = encoder.path.read_bytes() if encoder is not None else None
        outputs.append((_prior_metadata(job, metadata, latlon, choice, folds), request.prior_output,
                        lambda meta: prior_model_bytes(choice, encoder_bytes, meta.to_props(), meta.describe())))
    with StagedOutputs() as staging:
        for meta, final, model_bytes in outputs:
            staged = staging.path(final)
            staged.write_bytes(model_bytes(meta))
            OnnxModel.load(staged).self_check()
        staging.commit()
    if progress is not None:
        progress(100.0)
    return TrainResult(class_names, counts.tolist(), int((~kept).sum()), cv.overall,
                       np.nan_to_num(cv.f1).tolist(), folds, request.output,
                       request.prior_output if choice is not None else None,
                       choice.cv_accuracy if choice is not None else None, choice.recipe if choice else None)


def _classifier_metadata(job: TrainClassifierJob, class_names: list[str], counts: np.ndarray, dropped: int,
                         accuracy: float, f1: np.ndarray, folds: int) -> ModelMetadata:
    request, encoder = job.request, job.encoder.metadata
    colors = class_colors(class_names, layer_class_colors(request.labels, request.class_field, class_names))
    name = request.name or f"{request.output.stem} ({len(class_names)} classes)"
    return ModelMetadata.from_dict({
        **encoder.to_dict(), "kind": "image_classifier", "name": name, "schema_version": SCHEMA_VERSION,
        "description": f"logistic regression on {encoder.name} embeddings, trained in QGIS on "
                       f"{request.labels.name()}.{request.class_field}",
        "class_names": class_names, "class_colors": colors, "tile_size": job.tile_size,
        "training": {"encoder": encoder.name, "encoder_training": encoder.training, "labels": request.labels.name(),
                     "class_field": request.class_field, "geometry": job.samples.geometry,
                     "samples_per_class": dict(zip(class_names, counts.tolist())), "dropped_samples": dropped,
                     "l2_c": request.c, "max_per_polygon": request.max_per_polygon,
                     "resolution_m": request.resolution_m or encoder.gsd_m},
        "metrics": {"cv_accuracy": round(float(accuracy), 4), "cv_macro_f1": round(float(np.nanmean(f1)), 4),
                    "cv_folds": folds},
    })


def _prior_metadata(job: TrainClassifierJob, classifier: ModelMetadata, latlon: np.ndarray, choice: PriorChoice,
                    folds: int) -> ModelMetadata:
    encoder = job.location_encoder.metadata if job.location_encoder is not None else None
    lat, lon = latlon[:, 0], latlon[:, 1]
    source = f"the labelled samples of {job.request.labels.name()}.{job.request.class_field}"
    vote = f"a vote of the nearest of {source} on great-circle distance (flat far from them)"
    what = {"learned": f"{encoder.name if encoder else ''} embeddings of {source}", "knn": vote,
            "hybrid": f"{encoder.name if encoder else ''} embeddings and {vote}"}[choice.recipe]
    return ModelMetadata.from_dict({
        **(encoder.to_dict() if encoder else {}), "kind": "location_prior", "name": f"{classifier.name} location prior",
        "schema_version": SCHEMA_VERSION, "description": f"P(class | lat, lon) from {what}",
        "class_names": classifier.class_names, "class_colors": classifier.class_colors, "pca_basis": None,
        "embedding_dim": None, "location_encoder": prior_encoder_metadata(
            choice, encoder.location_encoder if encoder else None),
        "training": {"encoder": encoder.name if encoder else None,
                     "samples_per_class": classifier.training["samples_per_class"],
                     "latlon_bounds": {"lat": [float(lat.min()), float(lat.max())],
                                       "lon": [float(lon.min()), float(lon.max())]},
                     "prior_recipe": choice.selection},
        "metrics": {"cv_accuracy": round(choice.cv_accuracy, 4), "cv_folds": folds},
    })


def describe_request(job: TrainClassifierJob) -> str:
    """One log line: what is about to be embedded."""
    s = job.samples
    return (f"{len(s.xs)} {s.geometry} samples of {job.tile_size} px tiles with {job.encoder.metadata.name}; "
            f"{s.no_label} features without a class and {s.no_geometry} without a usable geometry skipped")
