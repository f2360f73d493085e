"""Choose a location prior's fusion exponent α on validation data and store it in the ONNX file.

α in P(y | image) · P(y | location)^α is chosen among candidates by the fused negative
log-likelihood (:func:`trainer.evaluation.few_label.best_exponent`, the same rule as ``evaluate``'s
"α on val" rows) over the validation split of labelled image records, with the image classifier
and the prior both run as exported ONNX models (what the plugin runs). The prior's file is then
rewritten atomically with ``prior_exponent`` and the selection in ``training.prior_exponent_selection``
(schema version 2); nothing else in it changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pandas as pd

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.probabilities import fuse
from qgis_csp_plugin.contract.schema import SCHEMA_VERSION, Kind, ModelMetadata
from trainer.errors import TrainerError
from trainer.evaluation.as_classify import read_patches, run_as_classify
from trainer.evaluation.few_label import best_exponent, topk_accuracy
from trainer.export.atomic import atomic_output
from trainer.export.onnx_writer import write_props

DEFAULT_CANDIDATES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def image_probabilities(image_model: OnnxModel, records: pd.DataFrame, batch: int = 64) -> np.ndarray:
    """P(y | image) of ``image_model`` on one tile of each record (bands by name), as Classify runs it on
    the tile as a layer (the model's radiometry applied, its band mask, month and the records' (lat, lon))."""
    patches = read_patches(image_model, records)
    return run_as_classify(image_model, patches.pixels, patches.layers, batch,
                           records[["lat", "lon"]].to_numpy(np.float32))


def select_exponent(prior: OnnxModel, image_model: OnnxModel, records: pd.DataFrame,
                    candidates: tuple[float, ...] = DEFAULT_CANDIDATES) -> dict:
    """α chosen on ``records`` (validation data with ``label`` in the models' class order) and the
    per-candidate validation NLL and top-1 that justify it."""
    if prior.metadata.kind != Kind.LOCATION_PRIOR or image_model.metadata.kind != Kind.IMAGE_CLASSIFIER:
        raise TrainerError(f"need a {Kind.LOCATION_PRIOR} and an {Kind.IMAGE_CLASSIFIER}, got "
                           f"{prior.metadata.kind} ({prior.path.name}) and {image_model.metadata.kind} "
                           f"({image_model.path.name})")
    if prior.metadata.class_names != image_model.metadata.class_names:
        raise TrainerError(f"{prior.path.name} and {image_model.path.name} predict different classes")
    if not len(records):
        raise TrainerError("choosing the prior exponent needs a non-empty validation split")
    if not candidates or any(not 0 <= a < np.inf for a in candidates):
        raise TrainerError(f"prior exponent candidates {list(candidates)} must be finite numbers >= 0")
    p_image = image_probabilities(image_model, records)
    p_location = prior.run(latlon=records[["lat", "lon"]].to_numpy(np.float32))
    labels = records["label"].to_numpy()
    alpha = best_exponent(p_image, p_location, labels, tuple(candidates))
    rows = np.arange(len(labels))
    nll = {f"{a:g}": float(-np.log(np.clip(fuse(p_image, p_location, a)[rows, labels], 1e-12, None)).mean())
           for a in candidates}
    top1 = {f"{a:g}": topk_accuracy(fuse(p_image, p_location, a), labels, 1) for a in candidates}
    return {"prior_exponent": float(alpha), "image_model": image_model.metadata.name, "n_val": len(labels),
            "candidates": [float(a) for a in candidates], "val_nll": nll, "val_top1": top1}


def store_exponent(prior_path: str | os.PathLike, selection: dict, data: str) -> ModelMetadata:
    """Rewrite ``prior_path`` with ``prior_exponent`` and the selection (``data`` names the validation
    data) in its metadata, at the current schema version; returns the new metadata."""
    prior_path = Path(prior_path)
    proto = onnx.load(str(prior_path))
    props = {p.key: p.value for p in proto.metadata_props}
    old = ModelMetadata.from_props(props)
    training = {**old.training, "prior_exponent_selection": {**selection, "data": data}}
    meta = ModelMetadata.from_dict({**old.to_dict(), "prior_exponent": selection["prior_exponent"],
                                    "training": training, "schema_version": SCHEMA_VERSION})
    with atomic_output(prior_path) as tmp:
        write_props(proto, {**props, **meta.to_props()}, doc=meta.describe())
        onnx.save(proto, str(tmp))
    return meta
