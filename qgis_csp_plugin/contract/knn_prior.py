"""A location prior that carries its training points: a soft vote of the k nearest on great-circle distance.

With N_k(x) the k training points nearest to x and d_i ≤ … their distances (chord of the unit sphere,
= the great-circle distance in radians to within 0.5 % up to 10°; unit vectors on the sphere: no seam at
the dateline, one point at each pole),

    P(y | x) = (g Σ_{i ∈ N_k} r_i [y_i = y] + c / K) / (g Σ_{i ∈ N_k} r_i + c),
    r_i = exp(−γ (d_i − d_1) / (d_1 + ε))   (the vote: relative to the nearest; γ = 0: all k equal,
                                              large γ: the nearest alone, a 1-NN),
    g = exp(−d_1² / (2 h²))                 (the support: how near the nearest point is),

K the number of classes, h the bandwidth, c a "flat" pseudo-count and ε = 0.001° (ties at distance 0).
Far from every training point g vanishes and the prior is flat (1/K), never a confident guess; near the
points the vote dominates, and its argmax is that of a (distance-weighted) k-NN. Ties at the k-th
distance go to the lower point index. k, γ, h and c are chosen by the log-loss on validation points, or
without them by leave-one-group-out on the training points (:func:`select_knn_prior`).

The same prior is written as a self-contained ONNX ``location_prior`` (:func:`knn_prior_model`, the
points and labels are initializers; neighbours ranked by float32 cosines, their distances exact in
float64, the queries in chunks of :data:`CHUNK`) or mixed with a learned prior,
P = m · P_knn + (1 − m) · P_learned (:func:`hybrid_prior_model`), by hand-written protobuf
(:mod:`.onnx_protobuf`), so the plugin builds it inside QGIS with numpy alone and the trainer
exports the same graph. :meth:`KnnPrior.probabilities` is the float64 numpy reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import onnx_protobuf as pb
from .errors import GeoSslError
from .latlon import validate_latlon as _validate
from .schema import LATLON_INPUT, PROBABILITIES_OUTPUT

#: Candidate numbers of voting neighbours k.
KS = (1, 3, 5, 10, 20, 50)
#: Candidate sharpness γ of the vote (0: the k nearest vote equally).
SHARPNESS = (0.0, 1.0, 3.0, 10.0, 30.0)
#: Candidate bandwidths h of the support (degrees of great-circle distance; 1° ≈ 111 km).
BANDWIDTHS_DEG = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
#: ε of the relative distances (degrees).
TIE_DEG = 0.001
#: Candidate flat pseudo-counts c (in units of one training point's full weight).
FLAT_COUNTS = (0.001, 0.01, 0.1, 1.0)
#: Candidate weights m of the kNN prior in a hybrid (0: learned only, 1: kNN only).
MIX_WEIGHTS = tuple(i / 10 for i in range(11))
#: Points kept in a graph at most (subsampled per class beyond): size and speed stay bounded.
MAX_POINTS = 50_000
ENCODER_NAME = "knn_haversine"
#: Query points per step of the graph's Scan: (CHUNK, M) cosines in memory at a time.
CHUNK = 64
PREFIX = "geossl_knn"
EPS = 1e-12


def validate_latlon(latlon: np.ndarray, name: str) -> np.ndarray:
    """:func:`.latlon.validate_latlon` raising :class:`GeoSslError` (a message for the user)."""
    try:
        return _validate(latlon, name)
    except ValueError as exc:
        raise GeoSslError(str(exc)) from exc


def unit_vectors(latlon: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float64 unit vectors of ``(N, 2)`` (lat, lon) degrees (x toward (0, 0), z north)."""
    rad = np.radians(np.asarray(latlon, dtype=np.float64).reshape(-1, 2))
    cos_lat = np.cos(rad[:, 0])
    return np.stack([cos_lat * np.cos(rad[:, 1]), cos_lat * np.sin(rad[:, 1]), np.sin(rad[:, 0])], axis=1)


def kappa(bandwidth_deg: float) -> float:
    """κ = 1 / h² of a bandwidth in degrees."""
    return 1.0 / math.radians(bandwidth_deg) ** 2


@dataclass(frozen=True)
class KnnPrior:
    """Training points ``latlon`` ``(M, 2)`` with ``labels`` in ``0..n_classes-1``; ``k`` voting neighbours (at
    most M are used), bandwidth and flat count."""

    latlon: np.ndarray
    labels: np.ndarray
    n_classes: int
    k: int
    sharpness: float
    bandwidth_deg: float
    flat_count: float

    def __post_init__(self) -> None:
        validate_latlon(self.latlon, "kNN prior training points")
        labels = np.asarray(self.labels)
        if labels.shape != (len(self.latlon),) or not len(labels):
            raise GeoSslError(f"a kNN prior needs one label per training point, got {labels.shape} for "
                              f"{len(self.latlon)} points")
        if self.n_classes < 2 or labels.min() < 0 or labels.max() >= self.n_classes:
            raise GeoSslError(f"kNN prior labels must lie in 0..{self.n_classes - 1} (at least 2 classes)")
        if not (0 < self.bandwidth_deg < 180 and 0 < self.flat_count < math.inf and int(self.k) == self.k >= 1
                and 0 <= self.sharpness < math.inf):
            raise GeoSslError(f"kNN prior k {self.k!r}, sharpness {self.sharpness!r}, bandwidth "
                              f"{self.bandwidth_deg!r}° and flat count {self.flat_count!r} must be positive (k a whole "
                              "number, sharpness may be 0, bandwidth below 180°)")

    @property
    def voters(self) -> int:
        """The number of neighbours that vote: k, at most the number of points."""
        return int(min(self.k, len(self.labels)))

    def probabilities(self, latlon: np.ndarray) -> np.ndarray:
        """``(N, K)`` float64 P(y | x) at ``latlon`` (the reference of the ONNX graph)."""
        validate_latlon(latlon, "kNN prior query points")
        near = nearest(unit_vectors(latlon), unit_vectors(self.latlon), self.voters)
        votes = neighbour_votes(near, self.labels, self.n_classes, [(self.voters, self.sharpness)])[0]
        return vote_probabilities(votes, support(near, self.bandwidth_deg), self.flat_count)

    def params(self) -> dict:
        """What the metadata says of this prior (``location_encoder.params``)."""
        return {"k": self.voters, "sharpness": float(self.sharpness), "bandwidth_deg": float(self.bandwidth_deg),
                "flat_count": float(self.flat_count), "points": int(len(self.labels)),
                "vote": "(g * sum_k r_i [y_i = y] + c/K) / (g * sum_k r_i + c), r_i = exp(-sharpness (d_i - d_1) / "
                        f"(d_1 + {TIE_DEG:g} deg)), g = exp(-d_1^2 / (2 h^2)), d great-circle distance"}


def vote_probabilities(votes: np.ndarray, support_: np.ndarray, flat_count: float) -> np.ndarray:
    """``(g · votes + c / K) / (g · Σ votes + c)`` per row (``support_``: g of each row)."""
    weighted = votes * support_[:, None]
    return (weighted + flat_count / votes.shape[1]) / (weighted.sum(axis=1, keepdims=True) + flat_count)


Neighbours = tuple[np.ndarray, np.ndarray]  # chord distances (N, k) ascending, point indices (N, k)


def nearest(query: np.ndarray, points: np.ndarray, k: int, query_groups: np.ndarray | None = None,
            point_groups: np.ndarray | None = None, chunk: int = 256) -> Neighbours:
    """Chord distances (ascending) and indices of the ``k`` points nearest to each ``query`` unit vector, as
    the graph finds them: ranked by the float32 cosine (equal cosines: the lower point index first, as
    onnxruntime's TopK), the distances then exact from the float64 vectors. With groups, a point is never a
    neighbour of a query of its own group (leave one group out; such slots get distance inf)."""
    k = min(k, len(points))
    points32 = points.astype(np.float32).T
    distances, indices = np.empty((len(query), k)), np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), chunk):
        block = slice(start, start + chunk)
        cos = query[block].astype(np.float32) @ points32
        if query_groups is not None:
            cos[query_groups[block, None] == point_groups[None, :]] = -np.inf
        order = np.argsort(-cos, axis=1, kind="stable")[:, :k]
        indices[block] = order
        distances[block] = np.linalg.norm(points[order] - query[block, None, :], axis=2)
        if query_groups is not None:
            distances[block][np.take_along_axis(cos, order, axis=1) == -np.inf] = np.inf
    return distances, indices


def neighbour_votes(near: Neighbours, labels: np.ndarray, n_classes: int,
                    settings: Sequence[tuple[int, float]]) -> list[np.ndarray]:
    """``(N, K)`` class votes Σ r_i [y_i = y] of the ``k`` nearest with sharpness γ, per ``(k, γ)``."""
    distances, indices = near
    first = distances[:, :1]
    with np.errstate(invalid="ignore"):  # inf - inf of left-out neighbours: weight 0 below
        relative = np.nan_to_num((distances - first) / (first + math.radians(TIE_DEG)), nan=np.inf)
    cells = np.arange(len(indices))[:, None] * n_classes + np.asarray(labels)[indices]  # row × class
    out = []
    for k, sharpness in settings:
        with np.errstate(over="ignore", invalid="ignore"):  # left-out neighbours (inf): weight 0
            weights = np.where(np.isfinite(distances[:, :k]), np.exp(-sharpness * relative[:, :k]), 0.0)
        votes = np.bincount(cells[:, :k].ravel(), weights.ravel(), minlength=len(indices) * n_classes)
        out.append(votes.reshape(len(indices), n_classes))
    return out


def support(near: Neighbours, bandwidth_deg: float) -> np.ndarray:
    """g = exp(−d_1² / (2 h²)) of each row: 1 on a training point, 0 far from all of them."""
    return np.exp(-0.5 * kappa(bandwidth_deg) * near[0][:, 0] ** 2)


def per_class_subsample(labels: np.ndarray, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ~``max_points`` points, each class keeping its share (at least one)."""
    labels = np.asarray(labels)
    if len(labels) <= max_points:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = max(1, round(len(members) * max_points / len(labels)))
        keep.append(rng.choice(members, size=min(n, len(members)), replace=False))
    return np.sort(np.concatenate(keep))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels``."""
    rows = np.arange(len(labels))
    return float(-np.log(np.clip(probabilities[rows, labels], EPS, None)).mean())


def select_knn_prior(latlon: np.ndarray, labels: np.ndarray, n_classes: int,
                     val_latlon: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                     groups: np.ndarray | None = None, ks: Sequence[int] = KS, sharpness: Sequence[float] = SHARPNESS,
                     bandwidths_deg: Sequence[float] = BANDWIDTHS_DEG, flat_counts: Sequence[float] = FLAT_COUNTS,
                     max_points: int = MAX_POINTS, seed: int = 0) -> tuple[KnnPrior, dict]:
    """The kNN prior on ``latlon``/``labels`` (subsampled per class to ``max_points``) whose k, sharpness,
    bandwidth and flat count have the lowest log-loss (:func:`most_local`) on the validation points, or without them by
    leave-one-group-out on the training points (``groups``: e.g. the polygon or fold of each sample; default
    one group per point). Returns the prior and the selection (the chosen values, their log-loss and the best
    log-loss per candidate value) for the metadata."""
    validate_latlon(latlon, "kNN prior training points")
    labels = np.asarray(labels, dtype=np.int64)
    if not ks or not sharpness or not bandwidths_deg or not flat_counts:
        raise GeoSslError("choosing a kNN prior needs candidate k, sharpness, bandwidths and flat counts")
    keep = per_class_subsample(labels, max_points, seed)
    points, point_labels = np.asarray(latlon, dtype=np.float64)[keep], labels[keep]
    units = unit_vectors(points)
    if val_latlon is not None and len(val_latlon):
        validate_latlon(val_latlon, "kNN prior validation points")
        query_labels, data = np.asarray(val_labels, dtype=np.int64), "validation"
        near = nearest(unit_vectors(val_latlon), units, max(ks))
    else:
        point_groups = np.asarray(groups)[keep] if groups is not None else np.arange(len(points))
        query_labels, data = point_labels, "leave-one-group-out on the training points"
        near = nearest(units, units, max(ks), point_groups, point_groups)
    votes = [(k, g) for k in sorted({min(k, len(points)) for k in ks}) for g in sharpness]
    supports = {h: support(near, h) for h in bandwidths_deg}
    counts = neighbour_votes(near, point_labels, n_classes, votes)
    losses = {(*votes[i], h, c): log_loss(vote_probabilities(counts[i], supports[h], c), query_labels)
              for i in range(len(votes)) for h in bandwidths_deg for c in flat_counts}
    best = most_local(losses)
    prior = KnnPrior(points, point_labels, n_classes, int(best[0]), float(best[1]), float(best[2]), float(best[3]))
    names = ("k", "sharpness", "bandwidth_deg", "flat_count")
    selection = {"data": data, "n": int(len(query_labels)), "points": int(len(points)),
                 "subsampled_from": int(len(labels)), **prior.params(), "log_loss": round(losses[best], 5),
                 **{f"log_loss_by_{name}": best_by(losses, i) for i, name in enumerate(names)}}
    selection.pop("vote")
    return prior, selection


def most_local(losses: dict[tuple, float], tolerance: float = 0.002) -> tuple:
    """The key ``(k, sharpness, bandwidth, flat count)`` of the smallest bandwidth among those whose log-loss is
    within ``tolerance`` (relative, at least 0.001 nats) of the lowest: validation points near the training
    points cannot tell how far the prior should reach, so it reaches no farther than the evidence asks."""
    lowest = min(losses.values())
    near_best = [key for key, loss in losses.items() if loss <= lowest + max(1e-3, tolerance * lowest)]
    return min(near_best, key=lambda key: (key[2], losses[key]))


def best_by(losses: dict[tuple, float], position: int) -> dict[str, float]:
    """The lowest loss for each value of the candidate at ``position`` of the keys."""
    values = sorted({key[position] for key in losses})
    return {f"{value:g}": round(min(v for key, v in losses.items() if key[position] == value), 5) for value in values}


def select_mix(p_knn: np.ndarray, p_learned: np.ndarray, labels: np.ndarray,
               weights: Sequence[float] = MIX_WEIGHTS) -> tuple[float, dict[str, float]]:
    """The weight m of ``weights`` whose mixture m · P_knn + (1 − m) · P_learned has the lowest log-loss of
    ``labels`` (validation), and every candidate's log-loss; ties go to the first candidate."""
    losses = {float(m): log_loss(m * p_knn + (1 - m) * p_learned, labels) for m in weights}
    best = min(losses, key=losses.get)
    return best, {f"{m:g}": round(loss, 5) for m, loss in losses.items()}


def recipe_of_mix(weight: float) -> str:
    """``learned`` (m = 0), ``knn`` (m = 1) or ``hybrid``: the recipe a chosen mixture weight stands for."""
    return "learned" if weight <= 0 else "knn" if weight >= 1 else "hybrid"


def knn_prior_model(prior: KnnPrior, props: dict[str, str], doc: str = "") -> bytes:
    """A complete ONNX ``location_prior``: ``latlon`` (N, 2) degrees → ``probabilities`` (N, K) of ``prior``."""
    initializers, nodes = _knn_graph(prior, PROBABILITIES_OUTPUT)
    graph = (nodes + pb.message(pb.GRAPH_NAME, b"knn_prior") + initializers
             + pb.message(pb.GRAPH_INPUT, pb.value_info(LATLON_INPUT, ["batch", 2]))
             + pb.message(pb.GRAPH_OUTPUT, pb.value_info(PROBABILITIES_OUTPUT, ["batch", prior.n_classes])))
    return pb.model(graph, props, doc)


def hybrid_prior_model(base: bytes, base_output: str, prior: KnnPrior, mix: float, props: dict[str, str],
                       doc: str = "", head: tuple[np.ndarray, np.ndarray] | None = None) -> bytes:
    """``base`` (an ONNX model with input ``latlon`` and the single output ``base_output``) mixed with the kNN
    prior: P = m · P_knn + (1 − m) · P_learned, where P_learned is ``base_output`` itself or, with ``head``
    ``(weight (D, K), bias (K,))``, ``softmax(base_output @ weight + bias)`` (a location encoder + a
    logistic head). ``base``'s metadata and doc string are replaced by ``props`` and ``doc``."""
    if base_output == PROBABILITIES_OUTPUT:
        raise GeoSslError(f"the learned part's output must not be named {PROBABILITIES_OUTPUT!r} in a hybrid")
    if not 0 < mix < 1:
        raise GeoSslError(f"a hybrid prior's kNN weight must lie strictly between 0 and 1, got {mix!r}")
    out = bytearray()
    graphs = 0
    for number, wire, raw, payload in pb.fields(base):
        if number == pb.MODEL_GRAPH and wire == pb.LENGTH_DELIMITED:
            out += pb.message(pb.MODEL_GRAPH, _hybrid_graph(payload, base_output, prior, mix, head))
            graphs += 1
        elif number not in (pb.MODEL_METADATA, pb.MODEL_DOC):
            out += raw
    if graphs != 1:
        raise GeoSslError("the learned prior is not an ONNX model (no graph found)")
    return bytes(out + pb.message(pb.MODEL_DOC, doc.encode()) + pb.metadata(props))


def _hybrid_graph(graph: bytes, base_output: str, prior: KnnPrior, mix: float,
                  head: tuple[np.ndarray, np.ndarray] | None) -> bytes:
    out = bytearray()
    outputs, inputs = [], []
    for number, wire, raw, payload in pb.fields(graph):
        if number == pb.GRAPH_OUTPUT and wire == pb.LENGTH_DELIMITED:
            outputs.append(pb.name_of(payload))
            continue
        if number == pb.GRAPH_INPUT and wire == pb.LENGTH_DELIMITED:
            inputs.append(pb.name_of(payload))
        out += raw
    if outputs != [base_output] or LATLON_INPUT not in inputs:
        raise GeoSslError(f"the learned part must take {LATLON_INPUT!r} and have the single output {base_output!r}, "
                          f"found inputs {inputs} and outputs {outputs}")
    learned = base_output
    if head is not None:
        weight, bias = (np.ascontiguousarray(a, dtype="<f4") for a in head)
        if weight.shape != (weight.shape[0], prior.n_classes) or bias.shape != (prior.n_classes,):
            raise GeoSslError(f"head weight {weight.shape} and bias {bias.shape} do not fit (D, {prior.n_classes})")
        learned = f"{PREFIX}_learned"
        out += pb.message(pb.GRAPH_INITIALIZER, pb.tensor(f"{PREFIX}_head_weight", weight))
        out += pb.message(pb.GRAPH_INITIALIZER, pb.tensor(f"{PREFIX}_head_bias", bias))
        out += pb.message(pb.GRAPH_NODE, pb.node("Gemm", [base_output, f"{PREFIX}_head_weight", f"{PREFIX}_head_bias"],
                                                 [f"{PREFIX}_logits"], f"{PREFIX}_gemm"))
        out += pb.message(pb.GRAPH_NODE, pb.node("Softmax", [f"{PREFIX}_logits"], [learned], f"{PREFIX}_softmax"))
    initializers, nodes = _knn_graph(prior, f"{PREFIX}_probabilities")
    out += initializers + nodes
    out += pb.message(pb.GRAPH_INITIALIZER, pb.tensor(f"{PREFIX}_mix", np.array(mix, "<f4")))
    out += pb.message(pb.GRAPH_INITIALIZER, pb.tensor(f"{PREFIX}_mix_learned", np.array(1 - mix, "<f4")))
    out += _nodes([("Mul", [f"{PREFIX}_probabilities", f"{PREFIX}_mix"], f"{PREFIX}_knn_part"),
                   ("Mul", [learned, f"{PREFIX}_mix_learned"], f"{PREFIX}_learned_part"),
                   ("Add", [f"{PREFIX}_knn_part", f"{PREFIX}_learned_part"], PROBABILITIES_OUTPUT)])
    out += pb.message(pb.GRAPH_OUTPUT, pb.value_info(PROBABILITIES_OUTPUT, ["batch", prior.n_classes]))
    return bytes(out)


def _knn_graph(prior: KnnPrior, output: str) -> tuple[bytes, bytes]:
    """Initializers and nodes computing ``prior``'s probabilities from ``latlon`` into ``output``."""
    p, k = PREFIX, prior.n_classes
    constants = {
        f"{p}_deg2rad": np.array(math.pi / 180, "<f8"),
        f"{p}_pick_lat": np.array([[1.0], [0.0]], "<f8"), f"{p}_pick_lon": np.array([[0.0], [1.0]], "<f8"),
        f"{p}_points": unit_vectors(prior.latlon),  # (M, 3): the training points on the sphere
        f"{p}_labels": np.asarray(prior.labels, "<i8"),  # (M,): their classes
        f"{p}_k": np.array([prior.voters], "<i8"), f"{p}_first": np.array([0], "<i8"),
        f"{p}_tie": np.array(math.radians(TIE_DEG), "<f8"), f"{p}_ones3": np.ones((3, 1), "<f8"),
        f"{p}_minus_sharpness": np.array(-prior.sharpness, "<f8"),
        f"{p}_minus_half_kappa": np.array(-0.5 * kappa(prior.bandwidth_deg), "<f8"),
        f"{p}_depth": np.array([k], "<i8"), f"{p}_onehot_values": np.array([0.0, 1.0], "<f4"),
        f"{p}_ones": np.ones((k, 1), "<f4"),
        f"{p}_flat_per_class": np.array(prior.flat_count / k, "<f4"), f"{p}_flat": np.array(prior.flat_count, "<f4"),
        f"{p}_chunk": np.array([CHUNK], "<i8"), f"{p}_zeros2": np.zeros(2, "<i8"), f"{p}_zero1": np.zeros(1, "<i8"),
        f"{p}_shape_chunks": np.array([-1, CHUNK, 3], "<i8"), f"{p}_shape_rows": np.array([-1, 1, 3], "<i8"),
        f"{p}_shape_k": np.array([-1, prior.voters], "<i8"), f"{p}_shape_weights": np.array([-1, 1, prior.voters],
                                                                                          "<i8"),
        f"{p}_shape_votes": np.array([-1, k], "<i8"),
    }
    initializers = b"".join(pb.message(pb.GRAPH_INITIALIZER, pb.tensor(name, value))
                            for name, value in constants.items())
    nodes = pb.message(pb.GRAPH_NODE, pb.node("Cast", [LATLON_INPUT], [f"{p}_latlon64"], f"{p}_cast64", to=pb.DOUBLE))
    nodes += _nodes([
        ("Mul", [f"{p}_latlon64", f"{p}_deg2rad"], f"{p}_rad"),
        ("MatMul", [f"{p}_rad", f"{p}_pick_lat"], f"{p}_lat"), ("MatMul", [f"{p}_rad", f"{p}_pick_lon"], f"{p}_lon"),
        ("Cos", [f"{p}_lat"], f"{p}_cos_lat"), ("Sin", [f"{p}_lat"], f"{p}_sin_lat"),
        ("Cos", [f"{p}_lon"], f"{p}_cos_lon"), ("Sin", [f"{p}_lon"], f"{p}_sin_lon"),
        ("Mul", [f"{p}_cos_lat", f"{p}_cos_lon"], f"{p}_x"), ("Mul", [f"{p}_cos_lat", f"{p}_sin_lon"], f"{p}_y")])
    nodes += pb.message(pb.GRAPH_NODE, pb.node("Concat", [f"{p}_x", f"{p}_y", f"{p}_sin_lat"], [f"{p}_unit"],
                                               f"{p}_concat", axis=1))
    # The query points in chunks of CHUNK rows, one Scan step each: (CHUNK, M) cosines at a time, never (N, M).
    body = pb.message(pb.GRAPH_NODE, pb.node("Cast", [f"{p}_rows"], [f"{p}_rows32"], f"{p}_rows_cast", to=pb.FLOAT))
    body += _nodes([("MatMul", [f"{p}_rows32", f"{p}_points32"], f"{p}_rows_cos")])  # (C, M) float32 cosines
    body += pb.message(pb.GRAPH_NODE, pb.node("TopK", [f"{p}_rows_cos", f"{p}_k"], [f"{p}_rows_near_cos",
                                              f"{p}_rows_near"], f"{p}_rows_topk", axis=1))  # the k nearest
    body += pb.message(pb.GRAPH_NODE, pb.node("Gather", [f"{p}_points", f"{p}_rows_near"], [f"{p}_rows_near_xyz"],
                                              f"{p}_rows_gather_xyz", axis=0))  # (C, k, 3) float64
    body += _nodes([  # exact chord distances d (C, k), ascending
        ("Reshape", [f"{p}_rows", f"{p}_shape_rows"], f"{p}_rows_3d"),
        ("Sub", [f"{p}_rows_near_xyz", f"{p}_rows_3d"], f"{p}_rows_diff"),
        ("Mul", [f"{p}_rows_diff", f"{p}_rows_diff"], f"{p}_rows_diff2"),
        ("MatMul", [f"{p}_rows_diff2", f"{p}_ones3"], f"{p}_rows_d2_3d"),
        ("Reshape", [f"{p}_rows_d2_3d", f"{p}_shape_k"], f"{p}_rows_d2"),
        ("Sqrt", [f"{p}_rows_d2"], f"{p}_rows_d")])
    body += pb.message(pb.GRAPH_NODE, pb.node("Gather", [f"{p}_rows_d", f"{p}_first"], [f"{p}_rows_d1"],
                                              f"{p}_rows_gather_d1", axis=1))  # (C, 1)
    body += _nodes([  # r = exp(−γ (d − d_1) / (d_1 + ε)), g = exp(−d_1² / (2 h²))
        ("Sub", [f"{p}_rows_d", f"{p}_rows_d1"], f"{p}_rows_beyond"),
        ("Add", [f"{p}_rows_d1", f"{p}_tie"], f"{p}_rows_scale"),
        ("Div", [f"{p}_rows_beyond", f"{p}_rows_scale"], f"{p}_rows_relative"),
        ("Mul", [f"{p}_rows_relative", f"{p}_minus_sharpness"], f"{p}_rows_log_r"),
        ("Exp", [f"{p}_rows_log_r"], f"{p}_rows_r"),
        ("Mul", [f"{p}_rows_d1", f"{p}_rows_d1"], f"{p}_rows_d1_squared"),
        ("Mul", [f"{p}_rows_d1_squared", f"{p}_minus_half_kappa"], f"{p}_rows_log_g"),
        ("Exp", [f"{p}_rows_log_g"], f"{p}_rows_g"),
        ("Mul", [f"{p}_rows_r", f"{p}_rows_g"], f"{p}_rows_weight64")])
    body += pb.message(pb.GRAPH_NODE, pb.node("Cast", [f"{p}_rows_weight64"], [f"{p}_rows_weight"],
                                              f"{p}_rows_cast32", to=pb.FLOAT))
    body += pb.message(pb.GRAPH_NODE, pb.node("Gather", [f"{p}_onehot", f"{p}_rows_near"], [f"{p}_rows_near_onehot"],
                                              f"{p}_rows_gather_onehot", axis=0))  # (C, k, K)
    body += _nodes([
        ("Reshape", [f"{p}_rows_weight", f"{p}_shape_weights"], f"{p}_rows_weight_3d"),  # (C, 1, k)
        ("MatMul", [f"{p}_rows_weight_3d", f"{p}_rows_near_onehot"], f"{p}_rows_votes_3d"),  # (C, 1, K)
        ("Reshape", [f"{p}_rows_votes_3d", f"{p}_shape_votes"], f"{p}_rows_votes")])
    body += (pb.message(pb.GRAPH_NAME, f"{p}_rows_votes".encode())
             + pb.message(pb.GRAPH_INPUT, pb.value_info(f"{p}_rows", [CHUNK, 3], pb.DOUBLE))
             + pb.message(pb.GRAPH_OUTPUT, pb.value_info(f"{p}_rows_votes", [CHUNK, k])))
    nodes += _nodes([  # pad the N queries to a whole number of chunks, (N / C, C, 3)
        ("Shape", [f"{p}_unit"], f"{p}_unit_shape"),
        ("Gather", [f"{p}_unit_shape", f"{p}_first"], f"{p}_n"),
        ("Mod", [f"{p}_n", f"{p}_chunk"], f"{p}_n_mod"),
        ("Sub", [f"{p}_chunk", f"{p}_n_mod"], f"{p}_chunk_minus"),
        ("Mod", [f"{p}_chunk_minus", f"{p}_chunk"], f"{p}_pad_rows")])
    nodes += pb.message(pb.GRAPH_NODE, pb.node("Concat", [f"{p}_zeros2", f"{p}_pad_rows", f"{p}_zero1"],
                                               [f"{p}_pads"], f"{p}_pads_concat", axis=0))
    nodes += _nodes([("Pad", [f"{p}_unit", f"{p}_pads"], f"{p}_unit_padded"),
                     ("Reshape", [f"{p}_unit_padded", f"{p}_shape_chunks"], f"{p}_unit_chunks"),
                     ("Transpose", [f"{p}_points"], f"{p}_points_t")])  # (3, M) for the cosines
    nodes += pb.message(pb.GRAPH_NODE, pb.node("Cast", [f"{p}_points_t"], [f"{p}_points32"], f"{p}_points_cast",
                                               to=pb.FLOAT))
    nodes += _nodes([("OneHot", [f"{p}_labels", f"{p}_depth", f"{p}_onehot_values"], f"{p}_onehot")])
    nodes += pb.message(pb.GRAPH_NODE, pb.node("Scan", [f"{p}_unit_chunks"], [f"{p}_chunk_votes"], f"{p}_scan",
                                               graphs={"body": body}, num_scan_inputs=1))  # (N / C, C, K)
    nodes += _nodes([
        ("Reshape", [f"{p}_chunk_votes", f"{p}_shape_votes"], f"{p}_padded_votes"),
        ("Slice", [f"{p}_padded_votes", f"{p}_zero1", f"{p}_n", f"{p}_zero1"], f"{p}_votes"),  # (N, K)
        ("MatMul", [f"{p}_votes", f"{p}_ones"], f"{p}_total"),
        ("Add", [f"{p}_votes", f"{p}_flat_per_class"], f"{p}_numerator"),
        ("Add", [f"{p}_total", f"{p}_flat"], f"{p}_denominator"),
        ("Div", [f"{p}_numerator", f"{p}_denominator"], output)])
    return initializers, nodes


def _nodes(specs: list[tuple[str, list[str], str]]) -> bytes:
    """Graph fields of single-output nodes ``(op_type, inputs, output)`` (node name = output name)."""
    return b"".join(pb.message(pb.GRAPH_NODE, pb.node(op, inputs, [output], f"{output}_node"))
                    for op, inputs, output in specs)
