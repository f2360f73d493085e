"""A few-label classifier's head read back from its ONNX bytes, and its encoder on its own.

:mod:`.onnx_head` writes the head as ``Concat`` of the feature blocks → ``Sub(mean)`` → ``Div(scale)`` →
``Gemm(W, b)`` → ``Softmax``. Up to the softmax it is linear, so the standardisation folds into the
weights: ``logits = c + Σ_blocks f_block · A_block`` with ``A = W / scale`` and ``c = b − (mean / scale) · W``.
Linear maps commute with means, so a tile's embedding block contributes the mean over its pixels of each
pixel embedding's projection ``e · A_embedding`` (K numbers per pixel, not D): what
:mod:`.pixel_map` averages over windows.

Only the structure :mod:`.onnx_head` writes is accepted (node kinds and tensor names are checked);
anything else raises :class:`GeoSslError`. Reading needs no ``onnx`` package: the protobuf fields are
walked with :mod:`~..contract.onnx_protobuf`, as when the head was written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError
from ..contract.onnx_protobuf import (
    GRAPH_INITIALIZER,
    GRAPH_NODE,
    GRAPH_OUTPUT,
    LENGTH_DELIMITED,
    MODEL_GRAPH,
    Node,
    fields,
    message,
    read_node,
    read_tensor,
    tensor_name,
    value_info,
)
from ..contract.schema import EMBEDDING_OUTPUT, PROBABILITIES_OUTPUT
from .onnx_head import BLOCK_TENSORS, FEATURES_TENSOR, HEAD_PREFIX
from .tile_features import EMBEDDING, STATISTIC_BLOCKS

#: The operator producing each statistic block's tensor.
BLOCK_OPS = {"mean": "Flatten", "std": "Sqrt", "centre": "Flatten"}


@dataclass(frozen=True)
class PixelHead:
    """``logits = bias + Σ_b features[b] · weights[b]``: the standardisation folded into the weights."""

    blocks: tuple[str, ...]
    weights: dict[str, np.ndarray]  # block → (width, K) float64
    bias: np.ndarray  # (K,) float64

    @property
    def n_classes(self) -> int:
        return len(self.bias)

    @property
    def embedding_dim(self) -> int | None:
        return self.weights[EMBEDDING].shape[0] if EMBEDDING in self.weights else None


def read_pixel_head(model: bytes, n_bands: int) -> PixelHead:
    """The head of a classifier written by :func:`~.onnx_head.append_head` on an encoder of ``n_bands`` bands."""
    graph = _graph(model)
    nodes, constants = {}, {}
    for number, wire, _, payload in fields(graph):
        if wire != LENGTH_DELIMITED:
            continue
        if number == GRAPH_NODE:
            node = read_node(payload)
            nodes.update({output: node for output in node.outputs})
        elif number == GRAPH_INITIALIZER and tensor_name(payload).startswith(HEAD_PREFIX):
            name, values = read_tensor(payload)
            constants[name] = values
    softmax = _producer(nodes, PROBABILITIES_OUTPUT, "Softmax")
    gemm = _producer(nodes, softmax.inputs[0], "Gemm")
    if gemm.attributes or len(gemm.inputs) != 3:
        raise GeoSslError(_unknown(f"its Gemm has attributes {list(gemm.attributes)}"))
    divide = _producer(nodes, gemm.inputs[0], "Div")
    subtract = _producer(nodes, divide.inputs[0], "Sub")
    concat = _producer(nodes, subtract.inputs[0], "Concat")
    if concat.outputs != (FEATURES_TENSOR,):
        raise GeoSslError(_unknown(f"its features come from {concat.outputs}"))
    weight, bias, scale, mean = (_constant(constants, name) for name in
                                 (gemm.inputs[1], gemm.inputs[2], divide.inputs[1], subtract.inputs[1]))
    blocks = tuple(_block(nodes, name) for name in concat.inputs)
    width = len(mean)
    if weight.ndim != 2 or weight.shape[0] != width or scale.shape != (width,) or bias.shape != (weight.shape[1],):
        raise GeoSslError(_unknown(f"its standardisation {mean.shape}/{scale.shape} and Gemm "
                                   f"{weight.shape}/{bias.shape} do not fit"))
    statistics = sum(b != EMBEDDING for b in blocks)
    widths = [n_bands if b != EMBEDDING else width - statistics * n_bands for b in blocks]
    if min(widths) < 1:
        raise GeoSslError(_unknown(f"{width} features cannot hold the blocks {blocks} of {n_bands} bands"))
    folded = weight.astype(np.float64) / scale.astype(np.float64)[:, None]
    bias = bias.astype(np.float64) - (mean.astype(np.float64) / scale.astype(np.float64)) @ weight.astype(np.float64)
    edges = np.cumsum([0, *widths])
    return PixelHead(blocks, {b: folded[edges[i]:edges[i + 1]] for i, b in enumerate(blocks)}, bias)


def encoder_graph(model: bytes, embedding_dim: int) -> bytes:
    """``model`` without its head: the encoder's nodes and weights with the single output ``embedding``
    ``(N, embedding_dim)`` (the inputs are kept; other top-level fields, e.g. the metadata, are copied)."""
    out = bytearray()
    for number, wire, raw, payload in fields(model):
        out += message(MODEL_GRAPH, _without_head(payload, embedding_dim)) \
            if number == MODEL_GRAPH and wire == LENGTH_DELIMITED else raw
    return bytes(out)


def _without_head(graph: bytes, embedding_dim: int) -> bytes:
    out = bytearray()
    for number, wire, raw, payload in fields(graph):
        head = (number == GRAPH_NODE and wire == LENGTH_DELIMITED and read_node(payload).name.startswith(HEAD_PREFIX)
                or number == GRAPH_INITIALIZER and wire == LENGTH_DELIMITED
                and tensor_name(payload).startswith(HEAD_PREFIX))
        if not head and number != GRAPH_OUTPUT:
            out += raw
    return bytes(out + message(GRAPH_OUTPUT, value_info(EMBEDDING_OUTPUT, ["batch", embedding_dim])))


def _graph(model: bytes) -> bytes:
    graphs = [p for n, w, _, p in fields(model) if n == MODEL_GRAPH and w == LENGTH_DELIMITED]
    if len(graphs) != 1:
        raise GeoSslError("the classifier file is not an ONNX model (no graph found)")
    return graphs[0]


def _producer(nodes: dict[str, Node], tensor: str, op_type: str) -> Node:
    node = nodes.get(tensor)
    if node is None or node.op_type != op_type or not node.inputs:
        found = "nothing" if node is None else f"{node.op_type} {node.name!r}"
        raise GeoSslError(_unknown(f"{tensor!r} comes from {found}, not from a {op_type} node"))
    return node


def _constant(constants: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in constants or constants[name].dtype != np.float32:
        raise GeoSslError(_unknown(f"{name!r} is not one of its float32 weights"))
    return constants[name]


def _block(nodes: dict[str, Node], tensor: str) -> str:
    block = next((b for b, name in BLOCK_TENSORS.items() if name == tensor), None)
    if block is None:
        raise GeoSslError(_unknown(f"it concatenates the unknown feature {tensor!r}"))
    if block in STATISTIC_BLOCKS:
        _producer(nodes, tensor, BLOCK_OPS[block])
    return block


def _unknown(detail: str) -> str:
    return f"the classifier's head is not the feature head csp:train_classifier writes ({detail})"
