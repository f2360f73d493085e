"""The few protobuf wire-format rules needed to read and extend an ONNX ``ModelProto`` without ``onnx``.

Inside QGIS only onnxruntime and numpy can be assumed, and onnxruntime cannot edit graphs. An ONNX
file is a protobuf message: a sequence of ``(tag, value)`` fields in which repeated fields may
appear in any number and order, so a graph is extended by *appending* fields (initializers, nodes,
outputs) and a field is removed by not copying it. Field numbers are those of ``onnx/onnx.proto``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..contract.errors import CspError

# ModelProto, OperatorSetIdProto
MODEL_OPSET_IMPORT, MODEL_DOC, MODEL_GRAPH, MODEL_METADATA = 8, 6, 7, 14
# GraphProto
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 1, 5, 11, 12
GRAPH_VALUE_INFO, GRAPH_QUANTIZATION, GRAPH_SPARSE_INITIALIZER = 13, 14, 15
# TensorProto.DataType, AttributeProto.AttributeType
FLOAT, INT64 = 1, 7
ATTRIBUTE_INT, ATTRIBUTE_INTS = 2, 7
VARINT, LENGTH_DELIMITED = 0, 2
WIRE_SIZES = {1: 8, 5: 4}  # fixed64, fixed32
DEFAULT_DOMAINS = ("", "ai.onnx")


def fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """``(field number, wire type, raw field bytes, payload)`` of each top-level field of a message."""
    pos = 0
    try:
        while pos < len(buf):
            start = pos
            tag, pos = read_varint(buf, pos)
            number, wire = tag >> 3, tag & 7
            if wire == VARINT:
                _, end = read_varint(buf, pos)
                payload_start = pos
            elif wire == LENGTH_DELIMITED:
                length, payload_start = read_varint(buf, pos)
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


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values: two's complement, as protobuf writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_field(number: int, value: int) -> bytes:
    return varint(number << 3 | VARINT) + varint(int(value))


def message(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def default_opset(model: bytes) -> int:
    """The version of the default (``ai.onnx``) operator set that ``model`` imports."""
    for number, wire, _, payload in fields(model):
        if number == MODEL_OPSET_IMPORT and wire == LENGTH_DELIMITED:
            domain, version = "", 0
            for n, w, _, p in fields(payload):
                if n == 1 and w == LENGTH_DELIMITED:
                    domain = p.decode()
                elif n == 2 and w == VARINT:
                    version = read_varint(p, 0)[0]
            if domain in DEFAULT_DOMAINS:
                return version
    raise CspError("the encoder file imports no ONNX operator set")


def tensor(name: str, array: np.ndarray) -> bytes:
    """A ``TensorProto`` holding ``array`` (float32 or int64, little-endian raw data)."""
    kinds = {np.dtype(np.float32): ("<f4", FLOAT), np.dtype(np.int64): ("<i8", INT64)}
    little_endian, data_type = kinds[np.asarray(array).dtype]
    data = np.ascontiguousarray(array, dtype=little_endian)
    dims = b"".join(varint_field(1, d) for d in data.shape)
    return dims + varint_field(2, data_type) + message(8, name.encode()) + message(9, data.tobytes())


def int_attribute(name: str, value: int) -> bytes:
    return message(1, name.encode()) + varint_field(3, value) + varint_field(20, ATTRIBUTE_INT)


def ints_attribute(name: str, values: list[int]) -> bytes:
    return message(1, name.encode()) + b"".join(varint_field(8, v) for v in values) + varint_field(20, ATTRIBUTE_INTS)


def node(op_type: str, inputs: list[str], outputs: list[str], name: str, attributes: tuple[bytes, ...] = ()) -> bytes:
    return (b"".join(message(1, i.encode()) for i in inputs) + b"".join(message(2, o.encode()) for o in outputs)
            + message(3, name.encode()) + message(4, op_type.encode())
            + b"".join(message(5, a) for a in attributes))


def value_info(name: str, shape: list[int | str]) -> bytes:
    """A float32 ``ValueInfoProto``; ``str`` dimensions are symbolic (e.g. ``batch``)."""
    dims = b"".join(message(1, message(2, d.encode()) if isinstance(d, str) else varint_field(1, d))
                    for d in shape)
    tensor_type = varint_field(1, FLOAT) + message(2, dims)
    return message(1, name.encode()) + message(2, message(1, tensor_type))


def name_of(payload: bytes) -> str:
    """Field 1 (``name``) of a ``ValueInfoProto`` or ``TensorProto``… payload."""
    for number, wire, _, value in fields(payload):
        if number == 1 and wire == LENGTH_DELIMITED:
            return value.decode()
    return ""


def tensor_name(payload: bytes) -> str:
    """The ``name`` (field 8) of a ``TensorProto`` payload."""
    for number, wire, _, value in fields(payload):
        if number == 8 and wire == LENGTH_DELIMITED:
            return value.decode()
    return ""


def read_tensor(payload: bytes) -> tuple[str, np.ndarray]:
    """Name and values of a float32 or int64 ``TensorProto`` payload (``raw_data`` or packed ``float_data``)."""
    dims: list[int] = []
    data_type, name, raw, floats = 0, "", None, None
    for number, wire, _, value in fields(payload):
        if number == 1:
            dims += packed_varints(value) if wire == LENGTH_DELIMITED else [read_varint(value, 0)[0]]
        elif number == 2 and wire == VARINT:
            data_type = read_varint(value, 0)[0]
        elif number == 8 and wire == LENGTH_DELIMITED:
            name = value.decode()
        elif number == 9 and wire == LENGTH_DELIMITED:
            raw = value
        elif number == 4 and wire == LENGTH_DELIMITED:
            floats = value
    kinds = {FLOAT: "<f4", INT64: "<i8"}
    data = raw if raw is not None else floats if data_type == FLOAT else None
    if data_type not in kinds or data is None:
        raise CspError(f"the tensor {name!r} is not stored as float32 or int64 raw data")
    values = np.frombuffer(data, dtype=kinds[data_type])
    if values.size != int(np.prod(dims, dtype=np.int64)):
        raise CspError(f"the tensor {name!r} holds {values.size} values for the shape {dims}")
    return name, values.reshape(dims).astype(values.dtype.newbyteorder("="))


def packed_varints(buf: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos)
        values.append(value)
    return values


@dataclass(frozen=True)
class Node:
    """A ``NodeProto``: operator, input and output tensor names, node name and attribute names."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str
    attributes: tuple[str, ...]


def read_node(payload: bytes) -> Node:
    parts: dict[int, list[bytes]] = {1: [], 2: [], 3: [], 4: [], 5: []}
    for number, wire, _, value in fields(payload):
        if number in parts and wire == LENGTH_DELIMITED:
            parts[number].append(value)
    text = {n: tuple(v.decode() for v in parts[n]) for n in (1, 2, 3, 4)}
    return Node(text[4][0] if text[4] else "", text[1], text[2], text[3][0] if text[3] else "",
                tuple(name_of(a) for a in parts[5]))
