"""The location prior of ``csp:train_classifier`` (OUTPUT_PRIOR) chosen by evidence: learned, kNN or hybrid.

Candidates, all over the same samples' (lat, lon): *learned* = a location encoder's embeddings + a logistic
head (:mod:`.logistic_regression`), *kNN* = the soft vote of the k nearest samples, carried in the graph
(:mod:`..contract.knn_prior`), and their mixture m · P_knn + (1 − m) · P_learned. The cross-validation folds
of the classifier (whole points/polygons held out together) give every sample out-of-fold probabilities of
both; the kNN bandwidth and flat count, then m in 0 … 1 (0 = learned, 1 = kNN) are chosen by the
out-of-fold log-loss. Without a location encoder only the kNN prior is possible. The graph is then written
with numpy alone (:func:`prior_model_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..contract.knn_prior import (
    ENCODER_NAME,
    MIX_WEIGHTS,
    KnnPrior,
    hybrid_prior_model,
    knn_prior_model,
    log_loss,
    nearest,
    neighbour_votes,
    recipe_of_mix,
    select_knn_prior,
    select_mix,
    support,
    unit_vectors,
    vote_probabilities,
)
from ..contract.schema import EMBEDDING_OUTPUT
from .logistic_regression import LogisticModel, fit_logistic
from .onnx_head import append_head
from .tile_features import EMBEDDING


@dataclass
class PriorChoice:
    """The chosen recipe, its parts fitted on every sample, and the cross-validated evidence."""

    recipe: str
    mix: float
    knn: KnnPrior | None
    head: LogisticModel | None
    cv_accuracy: float
    selection: dict = field(default_factory=dict)


def out_of_fold_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, folds: np.ndarray, c: float,
                         weights: np.ndarray | None) -> np.ndarray:
    """``(N, K)`` probabilities of each sample from a logistic head fitted without its fold (a class missing
    from a training part gets probability 0 there)."""
    weights = np.ones(len(y)) if weights is None else np.asarray(weights)
    out = np.zeros((len(y), n_classes))
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        present = np.unique(y[train])
        remap = np.full(n_classes, -1)
        remap[present] = np.arange(len(present))
        model = fit_logistic(x[train], remap[y[train]], len(present), c, weights[train])
        out[np.ix_(test, present)] = model.predict_proba(x[test])
    return out


def out_of_fold_knn(prior: KnnPrior, folds: np.ndarray) -> np.ndarray:
    """``(N, K)`` kNN probabilities of each training point of ``prior`` from the points of the other folds."""
    units = unit_vectors(prior.latlon)
    near = nearest(units, units, prior.voters, folds, folds)
    votes = neighbour_votes(near, prior.labels, prior.n_classes, [(prior.voters, prior.sharpness)])[0]
    return vote_probabilities(votes, support(near, prior.bandwidth_deg), prior.flat_count)


def choose_prior(latlon: np.ndarray, y: np.ndarray, n_classes: int, folds: np.ndarray,
                 embeddings: np.ndarray | None, c: float = 1.0, weights: np.ndarray | None = None) -> PriorChoice:
    """Choose and fit the prior of the samples at ``latlon`` with labels ``y``; ``folds``: fold id per sample
    (the classifier's cross-validation); ``embeddings``: the location encoder's, or ``None`` (kNN only)."""
    y = np.asarray(y)
    knn, knn_selection = select_knn_prior(latlon, y, n_classes, groups=folds)
    p_knn = out_of_fold_knn(knn, folds)
    selection: dict = {"data": f"{len(np.unique(folds))}-fold cross-validation (the classifier's folds)",
                       "knn": knn_selection}
    if embeddings is None:
        mix, p_learned, head = 1.0, p_knn, None
        selection["rule"] = "no location encoder: the kNN prior"
    else:
        p_learned = out_of_fold_logistic(embeddings, y, n_classes, folds, c, weights)
        mix, losses = select_mix(p_knn, p_learned, y, MIX_WEIGHTS)
        head = fit_logistic(embeddings, y, n_classes, c, weights) if mix < 1 else None
        selection.update(rule="lowest cross-validated log-loss of m · P_knn + (1 - m) · P_learned (m = 0 learned, "
                              "1 kNN, else hybrid)", cv_log_loss_by_knn_weight=losses,
                         cv_log_loss_learned=round(log_loss(p_learned, y), 5))
    mixed = mix * p_knn + (1 - mix) * p_learned
    recipe = recipe_of_mix(mix)
    selection.update(chosen=recipe, knn_weight=mix)
    return PriorChoice(recipe, mix, knn if mix > 0 else None, head, float((mixed.argmax(axis=1) == y).mean()),
                       selection)


def prior_model_bytes(choice: PriorChoice, encoder: bytes | None, props: dict[str, str], doc: str = "") -> bytes:
    """The chosen prior as an ONNX ``location_prior`` (``encoder``: the location encoder's file, for the
    learned and hybrid recipes)."""
    if choice.recipe == "knn":
        return knn_prior_model(choice.knn, props, doc)
    if choice.recipe == "learned":
        return append_head(encoder, (EMBEDDING,), choice.head, props, doc)
    return hybrid_prior_model(encoder, EMBEDDING_OUTPUT, choice.knn, choice.mix, props, doc,
                              head=choice.head.folded())


def prior_encoder_metadata(choice: PriorChoice, encoder: dict | None) -> dict:
    """``location_encoder`` of the prior's metadata: the encoder's, the kNN prior's, or both (hybrid)."""
    if choice.recipe == "learned":
        return encoder
    knn = {"name": ENCODER_NAME, "params": choice.knn.params()}
    if choice.recipe == "knn":
        return knn
    return {"name": f"{encoder['name']}+{ENCODER_NAME}",
            "params": {"knn_weight": choice.mix, "knn": knn["params"], "learned": encoder}}
