"""A location prior that carries its training points: a kernel vote on great-circle distance.

P(y | x) = (Σ_i w_i [y_i = y] + c / K) / (Σ_i w_i + c),  w_i = exp(κ (cos d_i − 1)),  κ = 1 / h²,

with d_i the great-circle distance from x to training point i (unit vectors on the sphere: no seam at
the dateline, one point at each pole), h the bandwidth (radians; for small d the kernel is a Gaussian
of standard deviation h in distance), K the number of classes and c a "flat" pseudo-count: far from
every training point all w_i vanish and the prior is flat (1/K), never a confident guess; near many
points the vote dominates. h and c are chosen by the log-loss on validation points, or without
them by leave-one-group-out on the training points (:func:`select_knn_prior`).

The same prior is written as a self-contained ONNX ``location_prior`` (:func:`knn_prior_model`, the
points and labels are initializers; distances in float64) or mixed with a learned prior,
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
from .errors import CspError
from .latlon import validate_latlon as _validate
from .schema import LATLON_INPUT, PROBABILITIES_OUTPUT

#: Candidate bandwidths h (degrees of great-circle distance; 1° ≈ 111 km).
BANDWIDTHS_DEG = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
#: Candidate flat pseudo-counts c (in units of one training point's full weight).
FLAT_COUNTS = (0.01, 0.1, 1.0, 10.0)
#: Candidate weights m of the kNN prior in a hybrid (0: learned only, 1: kNN only).
MIX_WEIGHTS = tuple(i / 10 for i in range(11))
#: Points kept in a graph at most (subsampled per class beyond): size and speed stay bounded.
MAX_POINTS = 50_000
ENCODER_NAME = "knn_haversine"
PREFIX = "geossl_knn"
EPS = 1e-12


def validate_latlon(latlon: np.ndarray, name: str) -> np.ndarray:
    """:func:`.latlon.validate_latlon` raising :class:`CspError` (a message for the user)."""
    try:
        return _validate(latlon, name)
    except ValueError as exc:
        raise CspError(str(exc)) from exc


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
    """Training points ``latlon`` ``(M, 2)`` with ``labels`` in ``0..n_classes-1``, bandwidth and flat count."""

    latlon: np.ndarray
    labels: np.ndarray
    n_classes: int
    bandwidth_deg: float
    flat_count: float

    def __post_init__(self) -> None:
        validate_latlon(self.latlon, "kNN prior training points")
        labels = np.asarray(self.labels)
        if labels.shape != (len(self.latlon),) or not len(labels):
            raise CspError(f"a kNN prior needs one label per training point, got {labels.shape} for "
                           f"{len(self.latlon)} points")
        if self.n_classes < 2 or labels.min() < 0 or labels.max() >= self.n_classes:
            raise CspError(f"kNN prior labels must lie in 0..{self.n_classes - 1} (at least 2 classes)")
        if not (0 < self.bandwidth_deg < 180 and 0 < self.flat_count < math.inf):
            raise CspError(f"kNN prior bandwidth {self.bandwidth_deg!r}° and flat count {self.flat_count!r} "
                           "must be positive (bandwidth below 180°)")

    def votes(self, latlon: np.ndarray) -> np.ndarray:
        """``(N, K)`` kernel-weighted class votes Σ_i w_i [y_i = y] at ``latlon``."""
        return kernel_votes(unit_vectors(latlon), unit_vectors(self.latlon), self.labels, self.n_classes,
                            (self.bandwidth_deg,))[0]

    def probabilities(self, latlon: np.ndarray) -> np.ndarray:
        """``(N, K)`` float64 P(y | x) at ``latlon`` (the reference of the ONNX graph)."""
        validate_latlon(latlon, "kNN prior query points")
        return vote_probabilities(self.votes(latlon), self.flat_count)

    def params(self) -> dict:
        """What the metadata says of this prior (``location_encoder.params``)."""
        return {"bandwidth_deg": float(self.bandwidth_deg), "flat_count": float(self.flat_count),
                "points": int(len(self.labels)), "kernel": "exp((cos d - 1) / h^2), d great-circle distance"}


def vote_probabilities(votes: np.ndarray, flat_count: float) -> np.ndarray:
    """``(votes + c / K) / (Σ votes + c)`` per row."""
    return (votes + flat_count / votes.shape[1]) / (votes.sum(axis=1, keepdims=True) + flat_count)


def kernel_votes(query: np.ndarray, points: np.ndarray, labels: np.ndarray, n_classes: int,
                 bandwidths_deg: Sequence[float], query_groups: np.ndarray | None = None,
                 point_groups: np.ndarray | None = None, chunk: int = 1024) -> np.ndarray:
    """``(B, N, K)`` class votes of ``query`` unit vectors ``(N, 3)`` for each of ``B`` bandwidths (one
    pass over the distances). With groups, a point never votes for a query of its own group (leave
    one group out)."""
    onehot = np.eye(n_classes)[np.asarray(labels)]
    kappas = np.array([kappa(h) for h in bandwidths_deg])
    out = np.empty((len(kappas), len(query), n_classes))
    for start in range(0, len(query), chunk):
        block = slice(start, start + chunk)
        cos_minus_one = query[block] @ points.T - 1.0  # ≤ 0 up to rounding
        np.minimum(cos_minus_one, 0.0, out=cos_minus_one)
        excluded = (query_groups[block, None] == point_groups[None, :]) if query_groups is not None else None
        for b, k in enumerate(kappas):
            weights = np.exp(k * cos_minus_one)
            if excluded is not None:
                weights[excluded] = 0.0
            out[b, block] = weights @ onehot
    return out


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
                     groups: np.ndarray | None = None, bandwidths_deg: Sequence[float] = BANDWIDTHS_DEG,
                     flat_counts: Sequence[float] = FLAT_COUNTS, max_points: int = MAX_POINTS,
                     seed: int = 0) -> tuple[KnnPrior, dict]:
    """The kNN prior on ``latlon``/``labels`` (subsampled per class to ``max_points``) whose bandwidth and
    flat count have the lowest log-loss on the validation points, or without them by leave-one-group-out
    on the training points (``groups``: e.g. the polygon of each sample; default one group per point).
    Returns the prior and the selection (candidates and their log-loss) for the metadata."""
    validate_latlon(latlon, "kNN prior training points")
    labels = np.asarray(labels, dtype=np.int64)
    if not bandwidths_deg or not flat_counts:
        raise CspError("choosing a kNN prior needs candidate bandwidths and flat counts")
    keep = per_class_subsample(labels, max_points, seed)
    points, point_labels = np.asarray(latlon, dtype=np.float64)[keep], labels[keep]
    if val_latlon is not None and len(val_latlon):
        validate_latlon(val_latlon, "kNN prior validation points")
        query, query_labels, data = unit_vectors(val_latlon), np.asarray(val_labels, dtype=np.int64), "validation"
        query_groups = point_groups = None
    else:
        query, query_labels, data = unit_vectors(points), point_labels, "leave-one-group-out on the training points"
        point_groups = (np.asarray(groups)[keep] if groups is not None else np.arange(len(points)))
        query_groups = point_groups
    votes = kernel_votes(query, unit_vectors(points), point_labels, n_classes, bandwidths_deg, query_groups,
                         point_groups)
    losses = {(h, c): log_loss(vote_probabilities(votes[b], c), query_labels)
              for b, h in enumerate(bandwidths_deg) for c in flat_counts}
    bandwidth, flat = min(losses, key=losses.get)
    prior = KnnPrior(points, point_labels, n_classes, float(bandwidth), float(flat))
    selection = {"data": data, "n": int(len(query_labels)), "points": int(len(points)),
                 "subsampled_from": int(len(labels)), "bandwidth_deg": float(bandwidth), "flat_count": float(flat),
                 "log_loss": round(losses[bandwidth, flat], 5),
                 "log_loss_by_bandwidth": {f"{h:g}": round(min(losses[h, c] for c in flat_counts), 5)
                                           for h in bandwidths_deg}}
    return prior, selection


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
        raise CspError(f"the learned part's output must not be named {PROBABILITIES_OUTPUT!r} in a hybrid")
    if not 0 < mix < 1:
        raise CspError(f"a hybrid prior's kNN weight must lie strictly between 0 and 1, got {mix!r}")
    out = bytearray()
    graphs = 0
    for number, wire, raw, payload in pb.fields(base):
        if number == pb.MODEL_GRAPH and wire == pb.LENGTH_DELIMITED:
            out += pb.message(pb.MODEL_GRAPH, _hybrid_graph(payload, base_output, prior, mix, head))
            graphs += 1
        elif number not in (pb.MODEL_METADATA, pb.MODEL_DOC):
            out += raw
    if graphs != 1:
        raise CspError("the learned prior is not an ONNX model (no graph found)")
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
        raise CspError(f"the learned part must take {LATLON_INPUT!r} and have the single output {base_output!r}, "
                       f"found inputs {inputs} and outputs {outputs}")
    learned = base_output
    if head is not None:
        weight, bias = (np.ascontiguousarray(a, dtype="<f4") for a in head)
        if weight.shape != (weight.shape[0], prior.n_classes) or bias.shape != (prior.n_classes,):
            raise CspError(f"head weight {weight.shape} and bias {bias.shape} do not fit (D, {prior.n_classes})")
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
        f"{p}_points": unit_vectors(prior.latlon).T.copy(),  # (3, M): the training points on the sphere
        f"{p}_labels": np.asarray(prior.labels, "<i8"),  # (M,): their classes
        f"{p}_one": np.array(1.0, "<f8"), f"{p}_kappa": np.array(kappa(prior.bandwidth_deg), "<f8"),
        f"{p}_depth": np.array([k], "<i8"), f"{p}_onehot_values": np.array([0.0, 1.0], "<f4"),
        f"{p}_ones": np.ones((k, 1), "<f4"),
        f"{p}_flat_per_class": np.array(prior.flat_count / k, "<f4"), f"{p}_flat": np.array(prior.flat_count, "<f4"),
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
    # One query point per Scan step: (M,) distances at a time, not (N, M) (memory stays O(M)).
    body = _nodes([
        ("MatMul", [f"{p}_row", f"{p}_points"], f"{p}_row_cos_d"),  # (M,) cosine of the great-circle distance
        ("Sub", [f"{p}_row_cos_d", f"{p}_one"], f"{p}_row_cos_d_minus_one"),
        ("Mul", [f"{p}_row_cos_d_minus_one", f"{p}_kappa"], f"{p}_row_log_weight64")])
    body += pb.message(pb.GRAPH_NODE, pb.node("Cast", [f"{p}_row_log_weight64"], [f"{p}_row_log_weight"],
                                              f"{p}_row_cast32", to=pb.FLOAT))
    body += _nodes([("Exp", [f"{p}_row_log_weight"], f"{p}_row_weight"),
                    ("MatMul", [f"{p}_row_weight", f"{p}_onehot"], f"{p}_row_votes")])
    body += (pb.message(pb.GRAPH_NAME, f"{p}_row_votes".encode())
             + pb.message(pb.GRAPH_INPUT, pb.value_info(f"{p}_row", [3], pb.DOUBLE))
             + pb.message(pb.GRAPH_OUTPUT, pb.value_info(f"{p}_row_votes", [k])))
    nodes += _nodes([("OneHot", [f"{p}_labels", f"{p}_depth", f"{p}_onehot_values"], f"{p}_onehot")])
    nodes += pb.message(pb.GRAPH_NODE, pb.node("Scan", [f"{p}_unit"], [f"{p}_votes"], f"{p}_scan",
                                               graphs={"body": body}, num_scan_inputs=1))
    nodes += _nodes([
        ("MatMul", [f"{p}_votes", f"{p}_ones"], f"{p}_total"),
        ("Add", [f"{p}_votes", f"{p}_flat_per_class"], f"{p}_numerator"),
        ("Add", [f"{p}_total", f"{p}_flat"], f"{p}_denominator"),
        ("Div", [f"{p}_numerator", f"{p}_denominator"], output)])
    return initializers, nodes


def _nodes(specs: list[tuple[str, list[str], str]]) -> bytes:
    """Graph fields of single-output nodes ``(op_type, inputs, output)`` (node name = output name)."""
    return b"".join(pb.message(pb.GRAPH_NODE, pb.node(op, inputs, [output], f"{output}_node"))
                    for op, inputs, output in specs)
