"""Append a softmax head to an ONNX ``image_encoder`` without the ``onnx`` package.

Inside QGIS only onnxruntime and numpy can be assumed, and onnxruntime cannot edit graphs. An ONNX
file is a protobuf ``ModelProto``; protobuf messages are sequences of ``(tag, value)`` fields in
which repeated fields may appear in any number and order, so a graph is extended by *appending*
fields to its ``GraphProto``: two initializers, a ``Gemm`` and a ``Softmax`` node, and a new graph
output ``probabilities`` in place of ``embedding``. The few wire-format rules needed are written
out here (about 60 lines, field numbers from ``onnx/onnx.proto``); every other byte of the encoder
is copied unchanged. The trainer's tests check the result with ``onnx.checker`` and against the
encoder + head computed in numpy.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..contract.errors import CspError
from ..contract.schema import EMBEDDING_OUTPUT, PROBABILITIES_OUTPUT

# field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, TypeProto)
MODEL_DOC, MODEL_GRAPH, MODEL_METADATA = 6, 7, 14
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_OUTPUT = 1, 5, 12
FLOAT = 1  # TensorProto.DataType.FLOAT
VARINT, LENGTH_DELIMITED = 0, 2
WIRE_SIZES = {1: 8, 5: 4}  # fixed64, fixed32
HEAD_PREFIX = "geossl_head"


def append_softmax_head(model: bytes, weight: np.ndarray, bias: np.ndarray, props: dict[str, str],
                        doc: str = "") -> bytes:
    """``model`` (an encoder with output ``embedding`` ``(N, D)``) + ``softmax(embedding @ weight + bias)``.

    ``weight`` is ``(D, K)``, ``bias`` ``(K,)``; the result's only output is ``probabilities``
    ``(N, K)`` and its ``metadata_props`` are replaced by ``props`` (and its doc string by ``doc``).
    """
    weight = np.ascontiguousarray(weight, dtype="<f4")
    bias = np.ascontiguousarray(bias, dtype="<f4")
    if weight.ndim != 2 or bias.shape != (weight.shape[1],):
        raise CspError(f"head weight {weight.shape} and bias {bias.shape} do not fit (D, K) and (K,)")
    out = bytearray()
    graphs = 0
    for number, wire, raw, payload in _fields(model):
        if number == MODEL_GRAPH and wire == LENGTH_DELIMITED:
            out += _message(MODEL_GRAPH, _graph_with_head(payload, weight, bias))
            graphs += 1
        elif number not in (MODEL_METADATA, MODEL_DOC):
            out += raw
    if graphs != 1:
        raise CspError("the encoder file is not an ONNX model (no graph found)")
    out += _message(MODEL_DOC, doc.encode())
    for key, value in props.items():
        out += _message(MODEL_METADATA, _message(1, key.encode()) + _message(2, value.encode()))
    return bytes(out)


def _graph_with_head(graph: bytes, weight: np.ndarray, bias: np.ndarray) -> bytes:
    out = bytearray()
    outputs = []
    for number, wire, raw, payload in _fields(graph):
        if number == GRAPH_OUTPUT and wire == LENGTH_DELIMITED:
            outputs.append(_value_info_name(payload))
        else:
            out += raw
    if outputs != [EMBEDDING_OUTPUT]:
        raise CspError(f"the encoder graph must have the single output {EMBEDDING_OUTPUT!r}, found {outputs}")
    w_name, b_name, logits = f"{HEAD_PREFIX}_weight", f"{HEAD_PREFIX}_bias", f"{HEAD_PREFIX}_logits"
    out += _message(GRAPH_INITIALIZER, _tensor(w_name, weight))
    out += _message(GRAPH_INITIALIZER, _tensor(b_name, bias))
    out += _message(GRAPH_NODE, _node("Gemm", [EMBEDDING_OUTPUT, w_name, b_name], [logits], f"{HEAD_PREFIX}_gemm"))
    out += _message(GRAPH_NODE, _node("Softmax", [logits], [PROBABILITIES_OUTPUT], f"{HEAD_PREFIX}_softmax"))
    out += _message(GRAPH_OUTPUT, _value_info(PROBABILITIES_OUTPUT, ["batch", weight.shape[1]]))
    return bytes(out)


def _tensor(name: str, array: np.ndarray) -> bytes:
    dims = b"".join(_varint_field(1, d) for d in array.shape)
    return dims + _varint_field(2, FLOAT) + _message(8, name.encode()) + _message(9, array.tobytes())


def _node(op_type: str, inputs: list[str], outputs: list[str], name: str) -> bytes:
    return (b"".join(_message(1, i.encode()) for i in inputs) + b"".join(_message(2, o.encode()) for o in outputs)
            + _message(3, name.encode()) + _message(4, op_type.encode()))


def _value_info(name: str, shape: list[int | str]) -> bytes:
    dims = b"".join(_message(1, _message(2, d.encode()) if isinstance(d, str) else _varint_field(1, d))
                    for d in shape)
    tensor_type = _varint_field(1, FLOAT) + _message(2, dims)
    return _message(1, name.encode()) + _message(2, _message(1, tensor_type))


def _value_info_name(payload: bytes) -> str:
    return next((p.decode() for n, w, _, p in _fields(payload) if n == 1 and w == LENGTH_DELIMITED), "")


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """``(field number, wire type, raw field bytes, payload)`` of each top-level field of a message."""
    pos = 0
    try:
        while pos < len(buf):
            start = pos
            tag, pos = _read_varint(buf, pos)
            number, wire = tag >> 3, tag & 7
            if wire == VARINT:
                _, end = _read_varint(buf, pos)
                payload_start = pos
            elif wire == LENGTH_DELIMITED:
                length, payload_start = _read_varint(buf, pos)
                end = payload_start + length
            elif wire in WIRE_SIZES:
                payload_start, end = pos, pos + WIRE_SIZES[wire]
            else:
                raise ValueError(f"wire type {wire}")
            if end > len(buf):
                raise ValueError("truncated field")
            yield number, wire, buf[start:end], buf[payload_start:end]
            pos = end
    except (IndexError, ValueError) as exc:
        raise CspError(f"the encoder file is not a readable ONNX model ({exc})") from exc


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | VARINT) + _varint(int(value))


def _message(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | LENGTH_DELIMITED) + _varint(len(payload)) + payload
