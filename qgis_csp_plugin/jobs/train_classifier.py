"""The runner behind ``csp:train_classifier``: labelled points/polygons → embeddings and tile statistics →
the feature set and C chosen by cross-validation → logistic head → one ONNX ``image_classifier``
(encoder + statistics + head, :mod:`..core.onnx_head`) that *Classify layer* runs like any other model.
Optionally also a ``location_prior`` over the same classes from the (lat, lon) of the same samples, for
*Classify layer*'s fusion P(y|image)·P(y|location): a location encoder (e.g. CSP) + a logistic head, a
kNN prior carrying the samples, or a mixture of both, chosen by cross-validated log-loss
(:mod:`..core.prior_recipe`).

:func:`prepare` (main thread) validates the request and collects the samples; ``job.execute``
(any thread) embeds the tiles, chooses the features and C (:mod:`..core.head_selection`), fits and writes
the model(s) all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

from ..contract.errors import GeoSslError
from ..contract.onnx_model import OnnxModel
from ..contract.radiometry import BandTransform
from ..contract.schema import LATLON_INPUT, SCHEMA_VERSION, Kind, ModelMetadata
from ..core.accuracy import confusion_matrix, sample_accuracy
from ..core.band_mapping import BandChoice, BandMapping
from ..core.class_labels import check_training_labels
from ..core.classify import PixelReader, fill_invalid, read_strip
from ..core.default_models import find_default_model
from ..core.head_selection import C_GRID, Candidate, Selection, fit_head, select_head
from ..core.logistic_regression import group_folds
from ..core.onnx_head import append_head
from ..core.prior_recipe import PriorChoice, choose_prior, prior_encoder_metadata, prior_model_bytes
from ..core.progress import Canceled, IsCanceled, Progress, part
from ..core.staging import StagedOutputs
from ..core.tile_features import (
    EMBEDDING,
    FEATURE_SETS,
    feature_blocks,
    statistic_blocks,
    tile_statistics,
)
from ..core.tiling import Extent, Strip
from ..qgis_io.crs import cell_to_latlon
from ..qgis_io.styling import class_colors
from ..qgis_io.training_samples import SampleSet, collect_samples, layer_class_colors
from .raster_input import read_plan

MAX_FOLDS = 5
AUTO = "auto"  # choose the feature set by cross-validation


@dataclass
class TrainRequest:
    """What to train on and where to write the classifier."""

    layer: QgsRasterLayer
    encoder_path: Path
    labels: QgsVectorLayer
    class_field: str
    output: Path
    name: str = ""
    bands: BandChoice | None = None  # None: by name, by sensor or position (band_mapping)
    sensor: str | None = None  # a key of contract.bands.SENSORS; None: from the file name
    acquired: date | None = None  # acquisition date (month input); None: from the file name/metadata, else July
    resolution_m: float | None = None
    tile_size: int | None = None
    c: float | None = None  # inverse L2 strength; None: chosen by cross-validation among C_GRID
    features: str = AUTO  # one of FEATURE_SETS, or AUTO: chosen by cross-validation
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
    reader: PixelReader
    transform: BandTransform | None
    samples: SampleSet
    res: tuple[float, float]  # layer units per pixel: the ground resolution as Classify reads this layer
    tile_size: int
    resolution_m: float  # ground metres per pixel
    location_encoder: OnnxModel | None = None  # for the learned and hybrid priors; None: a kNN prior only
    latlon: np.ndarray | None = None  # (N, 2) (lat, lon) degrees of every sample (prior, encoders taking latlon)
    warnings: list[str] = field(default_factory=list)
    mapping: BandMapping | None = None  # which layer band feeds which encoder band; masked bands
    month: int | None = None  # acquisition month for encoders that take it
    notes: list[str] = field(default_factory=list)  # resolution, bands used/masked, radiometry, month

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
    cv_accuracy: float  # of the whole procedure: nested CV when features or C were chosen
    cv_f1: list[float]
    folds: int
    path: Path
    selection: Selection
    prior_path: Path | None = None
    prior_cv_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)
    prior_recipe: str | None = None

    def lines(self) -> list[str]:
        per_class = ", ".join(f"{n} {c} (F1 {f:.2f})" for n, c, f in zip(self.class_names, self.counts, self.cv_f1))
        chosen, nested = self.selection.chosen, self.selection.nested
        return [f"samples per class: {per_class}",
                f"{self.dropped} samples outside the raster or on nodata were dropped",
                *candidate_lines(self.selection.candidates, self.folds),
                f"chosen: {chosen.features}, C = {chosen.c:g}: {self.folds}-fold CV accuracy {chosen.accuracy:.3f}"
                + (f" (the best of {len(self.selection.candidates)} candidates, so optimistic)" if nested else ""),
                f"{self.folds}-fold cross-validated accuracy {self.cv_accuracy:.3f}, macro F1 "
                f"{float(np.nanmean(self.cv_f1)):.3f}" + (" (nested: the choice repeated on the training part of "
                                                           "each fold, an honest estimate)" if nested else ""),
                *self.notes, f"wrote {self.path}"] + (
                [f"location prior ({self.prior_recipe}, chosen by cross-validated log-loss): {self.folds}-fold "
                 f"cross-validated accuracy {self.prior_cv_accuracy:.3f} (location alone); wrote {self.prior_path}"]
                if self.prior_path else [])


def prepare(request: TrainRequest) -> TrainClassifierJob:
    """Validate ``request``; raises :class:`GeoSslError` with a clear message (nothing written)."""
    layer = request.layer
    if layer is None or not layer.isValid():
        raise GeoSslError("the input raster layer is missing or cannot be read")
    if not layer.crs().isValid():
        raise GeoSslError(f"the layer {layer.name()!r} has no coordinate reference system")
    if request.output.suffix.lower() != ".onnx":
        raise GeoSslError(f"the output must be a .onnx file, got {request.output.name}")
    encoder = OnnxModel.load(request.encoder_path)
    meta = encoder.metadata
    if meta.kind != Kind.IMAGE_ENCODER:
        raise GeoSslError(f"{encoder.path.name} is a {meta.kind} model; training needs an image_encoder")
    extent = layer.extent()
    plan = read_plan(layer, encoder, extent, request.resolution_m, request.tile_size, request.bands, request.sensor,
                     request.acquired)  # the pixels Classify will read from this layer
    samples = collect_samples(request.labels, request.class_field, layer.crs(),
                              QgsProject.instance().transformContext(), plan.tile_width, request.max_per_polygon,
                              request.seed)
    outside = samples.outside_message(extent, layer.name())
    if outside:
        raise GeoSslError(outside)
    check_training_labels(samples.labels, request.class_field)  # early message; re-checked after nodata
    inputs = plan.layer_inputs()
    warnings = plan.warnings + inputs.warnings + ([encoder.provider_warning] if encoder.provider_warning else [])
    job = TrainClassifierJob(request, encoder, inputs.reader, inputs.transform, samples, (plan.res_x, plan.res_y),
                             plan.tile_size, plan.resolution_m, warnings=warnings, mapping=inputs.mapping,
                             month=inputs.month, notes=plan.notes + inputs.notes)
    if request.prior_output is not None or LATLON_INPUT in meta.input_names:
        job.latlon = _sample_latlon(job)
    if request.prior_output is not None:
        _prepare_prior(job)
    return job


def _sample_latlon(job: TrainClassifierJob) -> np.ndarray:
    """(lat, lon) degrees of every sample (the centres of their tiles)."""
    to_latlon = cell_to_latlon(job.request.layer.crs(), job.res[0])
    latlon, valid = to_latlon(job.samples.xs.astype(np.float64), job.samples.ys.astype(np.float64))
    if not valid.all():
        raise GeoSslError("some samples have no place on Earth in the raster's CRS: their (lat, lon) is needed by the "
                          "encoder or the location prior")
    return latlon


def _prepare_prior(job: TrainClassifierJob) -> None:
    """Load the location encoder, if any (without one the prior is a kNN prior; the samples' (lat, lon) are
    in ``job.latlon``)."""
    request = job.request
    if request.prior_output.suffix.lower() != ".onnx" or request.prior_output == request.output:
        raise GeoSslError(f"the location-prior output must be another .onnx file, got {request.prior_output.name}")
    path = request.location_encoder_path or find_default_model(Kind.LOCATION_ENCODER)
    if path is None:
        job.warnings.append("no location encoder given or installed in models/: the location prior will be a "
                            "kNN prior of the samples")
    else:
        job.location_encoder = OnnxModel.load(path)
    if job.location_encoder is not None and job.location_encoder.metadata.kind != Kind.LOCATION_ENCODER:
        raise GeoSslError(f"{job.location_encoder.path.name} is a {job.location_encoder.metadata.kind} model; "
                          "the location prior needs a location_encoder")


def candidate_lines(candidates: list[Candidate], folds: int) -> list[str]:
    """One log line per feature set: its CV accuracy at each C."""
    return [f"{folds}-fold CV accuracy of {name}: "
            + ", ".join(f"C = {c.c:g} {c.accuracy:.3f}" for c in candidates if c.features == name)
            for name in dict.fromkeys(c.features for c in candidates)]


def embed_samples(job: TrainClassifierJob, progress: Progress | None = None,
                  canceled: IsCanceled | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``(feature blocks, kept (N,) bool)``: the blocks (``embedding`` ``(M, D)`` when the request may use it,
    and the tile statistics ``mean``, ``std``, ``centre`` ``(M, C)``) of the M kept samples; a sample is
    dropped when its centre pixel is outside the raster or nodata."""
    samples, size = job.samples, job.tile_size
    n_bands = len(job.encoder.metadata.bands)
    half_x, half_y = size * job.res[0] / 2, size * job.res[1] / 2
    kept = np.zeros(len(samples.xs), dtype=bool)
    tiles: list[np.ndarray] = []
    rows: list[int] = []  # the samples whose tiles are in ``tiles``
    embeddings: list[dict[str, np.ndarray]] = []
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
        rows.append(i)
        if len(tiles) == job.request.batch_size:
            embeddings.append(_embed(job, tiles, rows))
        if progress is not None:
            progress(90.0 * (i + 1) / len(samples.xs))
    if tiles:
        embeddings.append(_embed(job, tiles, rows))
    if not embeddings:
        return {}, kept  # no usable sample: the label check that follows says so
    return {name: np.concatenate([e[name] for e in embeddings]) for name in embeddings[0]}, kept


def _embed(job: TrainClassifierJob, tiles: list[np.ndarray], rows: list[int]) -> dict[str, np.ndarray]:
    """Feature blocks of the collected tiles of samples ``rows``: their statistics and, when wanted, their
    embedding (with (lat, lon), month and band mask when the encoder takes them); empties both lists."""
    batch = np.stack(tiles)
    latlon = job.latlon[rows] if job.latlon is not None else None
    month = np.full(len(rows), job.month, np.int64) if job.month is not None else None
    tiles.clear()
    rows.clear()
    if job.transform is not None:
        job.transform.apply(batch)
    blocks = tile_statistics(batch)  # of the values the graph's image input gets at Classify
    if any(EMBEDDING in name for name in _feature_sets(job.request)):
        band_mask = job.mapping.band_mask if job.mapping is not None else None
        blocks[EMBEDDING] = job.encoder.run(image=batch, latlon=latlon, band_mask=band_mask, month=month)
    return blocks


def _feature_sets(request: TrainRequest) -> tuple[str, ...]:
    if request.features == AUTO:
        return FEATURE_SETS
    if request.features not in FEATURE_SETS:
        raise GeoSslError(f"unknown feature set {request.features!r}: choose {AUTO} or one of "
                          f"{', '.join(FEATURE_SETS)}")
    return (request.features,)


def _c_grid(request: TrainRequest) -> tuple[float, ...]:
    if request.c is None:
        return C_GRID
    if not request.c > 0:
        raise GeoSslError(f"the inverse L2 strength C must be > 0, got {request.c}")
    return (float(request.c),)


def train(job: TrainClassifierJob, progress: Progress | None = None, canceled: IsCanceled | None = None) -> TrainResult:
    """See :meth:`TrainClassifierJob.execute`."""
    request = job.request
    feature_sets, c_grid = _feature_sets(request), _c_grid(request)
    blocks, kept = embed_samples(job, part(progress, 0, 50), canceled)
    samples = job.samples.subset(kept)
    class_names = check_training_labels(samples.labels, request.class_field, job.samples.labels)
    y = np.array([class_names.index(label) for label in samples.labels])
    counts = np.bincount(y, minlength=len(class_names))
    groups = [len(np.unique(samples.groups[y == k])) for k in range(len(class_names))]
    folds = max(2, min(request.folds, min(groups)))
    notes = [] if folds == request.folds else [fewer_folds_note(request.folds, folds, class_names, groups,
                                                                  samples.geometry)]
    statistics = statistic_blocks(job.samples.geometry)
    selection = select_head(blocks, statistics, y, len(class_names), samples.groups, folds, samples.weights,
                            request.seed, feature_sets, c_grid, part(progress, 50, 95), canceled)
    cv = sample_accuracy(confusion_matrix(selection.predicted, y, len(class_names)))
    names = feature_blocks(selection.chosen.features, statistics)
    head = fit_head(blocks, names, y, len(class_names), selection.chosen.c, samples.weights)
    metadata = _classifier_metadata(job, class_names, counts, int((~kept).sum()), cv.overall, cv.f1, folds,
                                    selection, names)
    outputs = [(metadata, request.output, lambda meta: append_head(
        job.encoder.path.read_bytes(), names, head, meta.to_props(), meta.describe()))]
    choice = None
    if request.prior_output is not None:
        choice = _choose_prior(job, samples, kept, y, len(class_names), folds, c_grid, part(progress, 95, 99),
                               canceled)
        encoder_bytes = job.location_encoder.path.read_bytes() if job.location_encoder is not None else None
        outputs.append((_prior_metadata(job, metadata, job.latlon[kept], choice, folds), request.prior_output,
                        lambda meta: prior_model_bytes(choice, encoder_bytes, meta.to_props(), meta.describe())))
    _write(outputs)
    if progress is not None:
        progress(100.0)
    return TrainResult(class_names, counts.tolist(), int((~kept).sum()), cv.overall,
                       np.nan_to_num(cv.f1).tolist(), folds, request.output, selection,
                       request.prior_output if choice is not None else None,
                       choice.cv_accuracy if choice is not None else None, notes,
                       choice.recipe if choice is not None else None)


def _choose_prior(job: TrainClassifierJob, samples: SampleSet, kept: np.ndarray, y: np.ndarray, n_classes: int,
                  folds: int, c_grid: tuple[float, ...], progress: Progress | None,
                  canceled: IsCanceled | None) -> PriorChoice:
    """The location prior by evidence (learned, kNN or hybrid) on the classifier's folds; the learned head's C
    chosen by the same cross-validation as the image head's."""
    request, encoder = job.request, job.location_encoder
    embeddings, c = None, 1.0
    if encoder is not None:
        embeddings = encoder.run(latlon=job.latlon[kept].astype(np.float32))
        c = select_head({EMBEDDING: embeddings}, (), y, n_classes, samples.groups, folds, samples.weights,
                        request.seed, (EMBEDDING,), c_grid, progress, canceled).chosen.c
    return choose_prior(job.latlon[kept], y, n_classes, group_folds(y, samples.groups, folds, request.seed),
                        embeddings, c, samples.weights)


def fewer_folds_note(asked: int, used: int, class_names: list[str], groups: list[int], geometry: str) -> str:
    """Why cross-validation used fewer folds than asked: each fold holds out whole points/polygons."""
    smallest = int(np.argmin(groups))
    return (f"{used}-fold cross-validation instead of the {asked} folds asked: the class {class_names[smallest]!r} "
            f"has only {groups[smallest]} labelled {geometry}(s), and each fold must hold one out")


def _write(outputs: list[tuple[ModelMetadata, Path, Callable[[ModelMetadata], bytes]]]) -> None:
    """Each model's bytes (from its metadata) to its final path, all or nothing."""
    with StagedOutputs() as staging:
        for meta, final, model_bytes in outputs:
            staged = staging.path(final)
            staged.write_bytes(model_bytes(meta))
            OnnxModel.load(staged).self_check()
        staging.commit()


def _classifier_metadata(job: TrainClassifierJob, class_names: list[str], counts: np.ndarray, dropped: int,
                         accuracy: float, f1: np.ndarray, folds: int, selection: Selection,
                         names: tuple[str, ...]) -> ModelMetadata:
    request, encoder = job.request, job.encoder.metadata
    colors = class_colors(class_names, layer_class_colors(request.labels, request.class_field, class_names))
    name = request.name or f"{request.output.stem} ({len(class_names)} classes)"
    chosen = selection.chosen
    return ModelMetadata.from_dict({
        **encoder.to_dict(), "kind": Kind.IMAGE_CLASSIFIER.value, "name": name, "schema_version": SCHEMA_VERSION,
        "description": f"logistic regression on {_feature_description(names, encoder.name)}, trained in QGIS on "
                       f"{request.labels.name()}.{request.class_field}",
        "class_names": class_names, "class_colors": colors, "tile_size": job.tile_size,
        # a pixel encoder + this head: Classify can map every pixel from per-pixel embeddings (core.pixel_map)
        "dense_pixels": encoder.spectral is not None and encoder.spectral.consumes == "pixels",
        "training": {"encoder": encoder.name, "encoder_training": encoder.training, "labels": request.labels.name(),
                     "class_field": request.class_field, "geometry": job.samples.geometry,
                     "samples_per_class": dict(zip(class_names, counts.tolist())), "dropped_samples": dropped,
                     "l2_c": chosen.c, "features": chosen.features, "feature_blocks": list(names),
                     "selection": {"candidates": [c.to_dict() for c in selection.candidates],
                                   "requested": {"features": request.features, "l2_c": request.c},
                                   "rule": "highest k-fold CV accuracy, ties: lower CV log-loss",
                                   "nested_cv": selection.nested},
                     "max_per_polygon": request.max_per_polygon,
                     "resolution_m": job.resolution_m,
                     "inputs": job.notes},
        "metrics": {"cv_accuracy": round(float(accuracy), 4), "cv_macro_f1": round(float(np.nanmean(f1)), 4),
                    "cv_folds": folds, "cv_accuracy_chosen": round(chosen.accuracy, 4)},
        **band_fields(job),
    })


def _feature_description(names: tuple[str, ...], encoder: str) -> str:
    """``"MoCo embeddings + per-band tile mean, std"``-style words for the blocks ``names``."""
    statistics = [n for n in names if n != EMBEDDING]
    words = ([f"{encoder} embeddings"] if EMBEDDING in names else []) + (
        [f"per-band tile {', '.join(statistics)}".replace("centre", "centre pixel")] if statistics else [])
    return " + ".join(words)


def band_fields(job: TrainClassifierJob) -> dict:
    """What the classifier keeps of the band mapping: the layer band labels it was trained on (Classify
    re-matches them) and, for encoders with band groups, the bands masked at training (Classify masks them
    again)."""
    encoder, mapping = job.encoder.metadata, job.mapping
    if mapping is None:
        return {}
    fields = {"source_band_labels": mapping.source_labels()}
    if encoder.spectral is not None:
        fields["spectral"] = {**encoder.to_dict()["spectral"], "masked_bands": list(mapping.masked)}
    return fields


def _prior_metadata(job: TrainClassifierJob, classifier: ModelMetadata, latlon: np.ndarray, choice: PriorChoice,
                    folds: int) -> ModelMetadata:
    encoder = job.location_encoder.metadata if job.location_encoder is not None else None
    lat, lon = latlon[:, 0], latlon[:, 1]
    source = f"the labelled samples of {job.request.labels.name()}.{job.request.class_field}"
    vote = f"a vote of the nearest of {source} on great-circle distance (flat far from them)"
    what = {"learned": f"{encoder.name if encoder else ''} embeddings of {source}", "knn": vote,
            "hybrid": f"{encoder.name if encoder else ''} embeddings and {vote}"}[choice.recipe]
    return ModelMetadata.from_dict({
        **(encoder.to_dict() if encoder else {}), "kind": Kind.LOCATION_PRIOR.value,
        "name": f"{classifier.name} location prior",
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
