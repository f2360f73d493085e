"""Append a few-label head to an ONNX ``image_encoder`` without the ``onnx`` package.

The head computes the chosen feature blocks (:mod:`.tile_features`) inside the graph: the encoder's
``embedding`` and/or per-band statistics of the ``image`` input (``ReduceMean``/``Sub``/``Mul``/
``Sqrt`` for mean and std, ``Shape``/``Slice`` for the centre pixel), concatenates them, standardises
them with the training mean and scale (``Sub``, ``Div``) and applies the logistic regression
(``Gemm`` → ``Softmax`` → ``probabilities``). Without an ``embedding`` block the encoder's nodes and
weights are dropped (its inputs stay, so every classifier of an encoder is fed alike). Nodes,
initializers and the new output are appended as protobuf fields (:mod:`..contract.onnx_protobuf`); every other byte
of the encoder is copied unchanged. ``ReduceMean`` takes its axes as an attribute before opset 18 and
as an input from 18: the encoder's opset decides. The trainer's tests check the result with
``onnx.checker`` and against the features and probabilities computed in numpy.
"""

from __future__ import annotations

import numpy as np

from ..contract.errors import GeoSslError
from ..contract.onnx_protobuf import (
    GRAPH_INITIALIZER,
    GRAPH_INPUT,
    GRAPH_NODE,
    GRAPH_OUTPUT,
    GRAPH_QUANTIZATION,
    GRAPH_SPARSE_INITIALIZER,
    GRAPH_VALUE_INFO,
    LENGTH_DELIMITED,
    MODEL_DOC,
    MODEL_GRAPH,
    MODEL_METADATA,
    default_opset,
    fields,
    message,
    metadata,
    name_of,
    node,
    tensor,
    tensor_name,
    value_info,
)
from ..contract.schema import EMBEDDING_OUTPUT, IMAGE_INPUT, PROBABILITIES_OUTPUT
from .logistic_regression import LogisticModel
from .tile_features import EMBEDDING, STATISTIC_BLOCKS

HEAD_PREFIX = "geossl_head"
FEATURES_TENSOR = f"{HEAD_PREFIX}_features"  # the concatenated, unstandardised features (for tests)
#: The tensor each feature block is read from (:mod:`.pixel_head` reads a head back by these names).
BLOCK_TENSORS = {EMBEDDING: EMBEDDING_OUTPUT, "mean": f"{HEAD_PREFIX}_band_mean", "std": f"{HEAD_PREFIX}_band_std",
                 "centre": f"{HEAD_PREFIX}_centre"}
MIN_STATISTICS_OPSET = 10  # Slice with starts/ends as inputs
REDUCE_AXES_AS_INPUT = 18  # ReduceMean's axes: an attribute before opset 18, an input from 18
ENCODER_FIELDS = (GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_VALUE_INFO, GRAPH_QUANTIZATION, GRAPH_SPARSE_INITIALIZER)


def append_head(model: bytes, blocks: tuple[str, ...], head: LogisticModel, props: dict[str, str],
                doc: str = "") -> bytes:
    """``model`` (an encoder with the single output ``embedding``) + the head on the feature ``blocks``.

    ``head`` acts on the blocks' columns in the order given; the result's only output is
    ``probabilities`` ``(N, K)`` and its ``metadata_props`` are replaced by ``props`` (and its doc
    string by ``doc``).
    """
    unknown = [b for b in blocks if b != EMBEDDING and b not in STATISTIC_BLOCKS]
    if not blocks or unknown:
        raise GeoSslError(f"a head needs feature blocks among {EMBEDDING}, {', '.join(STATISTIC_BLOCKS)}; got {blocks}")
    width = len(head.mean)
    if head.coef.ndim != 2 or head.coef.shape[1] != width or head.scale.shape != (width,) \
            or head.intercept.shape != (head.coef.shape[0],):
        raise GeoSslError(f"head standardisation {head.mean.shape}/{head.scale.shape}, coefficients "
                          f"{head.coef.shape} and intercept {head.intercept.shape} do not fit (D,), (K, D), (K,)")
    opset = default_opset(model)
    out = bytearray()
    graphs = 0
    for number, wire, raw, payload in fields(model):
        if number == MODEL_GRAPH and wire == LENGTH_DELIMITED:
            out += message(MODEL_GRAPH, _graph_with_head(payload, blocks, head, opset))
            graphs += 1
        elif number not in (MODEL_METADATA, MODEL_DOC):
            out += raw
    if graphs != 1:
        raise GeoSslError("the encoder file is not an ONNX model (no graph found)")
    out += message(MODEL_DOC, doc.encode()) + metadata(props)
    return bytes(out)


class _Nodes:
    """Initializers and nodes appended to a graph, named ``geossl_head_<suffix>``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.constants: set[str] = set()

    def constant(self, suffix: str, array: np.ndarray) -> str:
        name = f"{HEAD_PREFIX}_{suffix}"
        if name not in self.constants:
            self.constants.add(name)
            self.parts.append(message(GRAPH_INITIALIZER, tensor(name, array)))
        return name

    def op(self, op_type: str, inputs: list[str], suffix: str, output: str | None = None, **attributes) -> str:
        output = output or f"{HEAD_PREFIX}_{suffix}"
        self.parts.append(message(GRAPH_NODE, node(op_type, inputs, [output], f"{HEAD_PREFIX}_{suffix}",
                                                   **attributes)))
        return output


def _graph_with_head(graph: bytes, blocks: tuple[str, ...], head: LogisticModel, opset: int) -> bytes:
    keep_encoder = EMBEDDING in blocks
    initializers = {tensor_name(p) for n, w, _, p in fields(graph) if n == GRAPH_INITIALIZER and w == LENGTH_DELIMITED}
    out = bytearray()
    outputs, inputs = [], []
    for number, wire, raw, payload in fields(graph):
        if number == GRAPH_OUTPUT and wire == LENGTH_DELIMITED:
            outputs.append(name_of(payload))
            continue
        if number == GRAPH_INPUT and wire == LENGTH_DELIMITED:
            inputs.append(name_of(payload))
            if not keep_encoder and inputs[-1] in initializers:
                continue
        if keep_encoder or number not in ENCODER_FIELDS:
            out += raw
    if outputs != [EMBEDDING_OUTPUT]:
        raise GeoSslError(f"the encoder graph must have the single output {EMBEDDING_OUTPUT!r}, found {outputs}")
    nodes = _Nodes()
    columns = _statistics(nodes, blocks, opset, inputs)
    columns[EMBEDDING] = BLOCK_TENSORS[EMBEDDING]
    features = nodes.op("Concat", [columns[b] for b in blocks], "features", axis=1)
    centred = nodes.op("Sub", [features, nodes.constant("feature_mean", head.mean.astype(np.float32))], "centred")
    scaled = nodes.op("Div", [centred, nodes.constant("feature_scale", head.scale.astype(np.float32))], "standardised")
    logits = nodes.op("Gemm", [scaled, nodes.constant("weight", head.coef.T.astype(np.float32)),
                               nodes.constant("bias", head.intercept.astype(np.float32))], "logits")
    nodes.op("Softmax", [logits], "softmax", output=PROBABILITIES_OUTPUT)
    out += b"".join(nodes.parts)
    out += message(GRAPH_OUTPUT, value_info(PROBABILITIES_OUTPUT, ["batch", head.coef.shape[0]]))
    return bytes(out)


def _statistics(nodes: _Nodes, blocks: tuple[str, ...], opset: int, inputs: list[str]) -> dict[str, str]:
    """Append the nodes of the statistic blocks in ``blocks``; ``{block: tensor name}``."""
    wanted = [b for b in blocks if b in STATISTIC_BLOCKS]
    if not wanted:
        return {}
    if IMAGE_INPUT not in inputs:
        raise GeoSslError(f"tile statistics need the graph input {IMAGE_INPUT!r}; the encoder has {inputs}")
    if opset < MIN_STATISTICS_OPSET:
        raise GeoSslError(f"tile statistics need ONNX opset >= {MIN_STATISTICS_OPSET}; the encoder uses opset {opset}")
    columns = {}
    if "mean" in wanted or "std" in wanted:
        mean = _reduce_mean(nodes, IMAGE_INPUT, "band_mean_hw", True, opset)
        if "mean" in wanted:
            columns["mean"] = nodes.op("Flatten", [mean], "band_mean", output=BLOCK_TENSORS["mean"], axis=1)
    if "std" in wanted:
        deviation = nodes.op("Sub", [IMAGE_INPUT, mean], "deviation")
        squared = nodes.op("Mul", [deviation, deviation], "squared_deviation")
        variance = _reduce_mean(nodes, squared, "band_variance", False, opset)
        columns["std"] = nodes.op("Sqrt", [variance], "band_std", output=BLOCK_TENSORS["std"])
    if "centre" in wanted:
        int64 = np.int64
        shape = nodes.op("Shape", [IMAGE_INPUT], "image_shape")
        size = nodes.op("Slice", [shape, nodes.constant("two", np.array([2], int64)),
                                  nodes.constant("four", np.array([4], int64)),
                                  nodes.constant("zero", np.array([0], int64))], "image_hw")
        start = nodes.op("Div", [size, nodes.constant("two", np.array([2], int64))], "centre_start")
        end = nodes.op("Add", [start, nodes.constant("one", np.array([1], int64))], "centre_end")
        pixel = nodes.op("Slice", [IMAGE_INPUT, start, end, nodes.constant("axes_hw", np.array([2, 3], int64))],
                         "centre_pixel")
        columns["centre"] = nodes.op("Flatten", [pixel], "centre", output=BLOCK_TENSORS["centre"], axis=1)
    return columns


def _reduce_mean(nodes: _Nodes, x: str, suffix: str, keepdims: bool, opset: int) -> str:
    """Mean over the two spatial axes of ``(N, C, H, W)``."""
    if opset >= REDUCE_AXES_AS_INPUT:
        return nodes.op("ReduceMean", [x, nodes.constant("axes_hw", np.array([2, 3], np.int64))], suffix,
                        keepdims=int(keepdims))
    return nodes.op("ReduceMean", [x], suffix, axes=[2, 3], keepdims=int(keepdims))
