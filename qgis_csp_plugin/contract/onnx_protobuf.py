"""Write (and walk) ONNX protobuf messages without the ``onnx`` package: pure Python + numpy.

Inside QGIS only onnxruntime and numpy can be assumed, and onnxruntime cannot build graphs. An ONNX
file is a protobuf ``ModelProto``; protobuf messages are sequences of ``(tag, value)`` fields, repeated
fields in any number and order, so a model is written field by field and a graph is extended by
*appending* fields to its ``GraphProto``. Field numbers are those of ``onnx/onnx.proto``. Used by
:mod:`.knn_prior` (graphs that carry their training points), in the trainer and in the plugin alike, and by
the plugin's classifier heads (:mod:`qgis_csp_plugin.core.onnx_head`); the trainer's tests check the
results with ``onnx.checker``. The readers (:func:`read_tensor`, :func:`read_node`) let the plugin read a head
back from a file it wrote (:mod:`qgis_csp_plugin.core.pixel_head`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import GeoSslError

# ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto field numbers
MODEL_IR_VERSION, MODEL_PRODUCER, MODEL_DOC, MODEL_GRAPH, MODEL_OPSET, MODEL_METADATA = 1, 2, 6, 7, 8, 14
GRAPH_NODE, GRAPH_NAME, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 1, 2, 5, 11, 12
GRAPH_VALUE_INFO, GRAPH_QUANTIZATION, GRAPH_SPARSE_INITIALIZER = 13, 14, 15
ATTRIBUTE_INT, ATTRIBUTE_GRAPH, ATTRIBUTE_INTS = 2, 5, 7  # AttributeProto.AttributeType
#: TensorProto.DataType of the numpy dtypes written here
DATA_TYPES = {np.dtype("<f4"): 1, np.dtype("<i8"): 7, np.dtype("<f8"): 11}
FLOAT, INT64, DOUBLE = 1, 7, 11
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
WIRE_SIZES = {FIXED64: 8, FIXED32: 4}
IR_VERSION, OPSET = 8, 17  # onnxruntime >= 1.17 (the plugin's minimum) runs both
DEFAULT_DOMAINS = ("", "ai.onnx")


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if value < 0:
        raise ValueError(f"varint of a negative number {value}")
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
    """A length-delimited field (sub-message, string or bytes)."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def tensor(name: str, array: np.ndarray) -> bytes:
    """``TensorProto`` ``name`` holding ``array`` (float32, float64 or int64) as raw little-endian data."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("<")
    if dtype not in DATA_TYPES:
        raise GeoSslError(f"cannot store a {array.dtype} tensor in an ONNX graph")
    dims = b"".join(varint_field(1, d) for d in array.shape)
    raw = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return dims + varint_field(2, DATA_TYPES[dtype]) + message(8, name.encode()) + message(9, raw)


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str,
         graphs: dict[str, bytes] | None = None, **ints: int | Sequence[int]) -> bytes:
    """``NodeProto`` of the default domain; ``ints`` are integer or integer-list attributes (e.g. ``to=FLOAT``,
    ``axis=1``, ``axes=[2, 3]``), ``graphs`` graph attributes (``GraphProto`` payloads, e.g. the ``body`` of a
    ``Scan``)."""
    attributes = b"".join(message(5, message(1, key.encode()) + _int_value(value)) for key, value in ints.items())
    attributes += b"".join(message(5, message(1, key.encode()) + message(6, graph)
                                   + varint_field(20, ATTRIBUTE_GRAPH)) for key, graph in (graphs or {}).items())
    return (b"".join(message(1, i.encode()) for i in inputs) + b"".join(message(2, o.encode()) for o in outputs)
            + message(3, name.encode()) + message(4, op_type.encode()) + attributes)


def _int_value(value: int | Sequence[int]) -> bytes:
    """The value and type fields of an integer (``INT``) or integer-list (``INTS``) ``AttributeProto``."""
    if isinstance(value, int):
        return varint_field(3, value) + varint_field(20, ATTRIBUTE_INT)
    return b"".join(varint_field(8, v) for v in value) + varint_field(20, ATTRIBUTE_INTS)


def value_info(name: str, shape: Sequence[int | str], elem_type: int = FLOAT) -> bytes:
    """``ValueInfoProto`` of a tensor; string dimensions are symbolic (e.g. ``"batch"``)."""
    dims = b"".join(message(1, message(2, d.encode()) if isinstance(d, str) else varint_field(1, d))
                    for d in shape)
    tensor_type = varint_field(1, elem_type) + message(2, dims)
    return message(1, name.encode()) + message(2, message(1, tensor_type))


def model(graph: bytes, props: dict[str, str], doc: str = "", opset: int = OPSET) -> bytes:
    """``ModelProto`` around the ``GraphProto`` payload ``graph`` with ``metadata_props`` ``props``."""
    opset_import = message(1, b"") + varint_field(2, opset)
    out = (varint_field(MODEL_IR_VERSION, IR_VERSION) + message(MODEL_PRODUCER, b"geossl")
           + message(MODEL_DOC, doc.encode()) + message(MODEL_GRAPH, graph) + message(MODEL_OPSET, opset_import))
    return out + metadata(props)


def metadata(props: dict[str, str]) -> bytes:
    """The ``metadata_props`` fields of a ``ModelProto``."""
    return b"".join(message(MODEL_METADATA, message(1, key.encode()) + message(2, value.encode()))
                    for key, value in props.items())


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
        raise GeoSslError(f"not a readable ONNX model ({exc})") from exc


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def name_of(payload: bytes) -> str:
    """Field 1 (the name) of a ``ValueInfoProto`` payload."""
    return next((p.decode() for n, w, _, p in fields(payload) if n == 1 and w == LENGTH_DELIMITED), "")


def tensor_name(payload: bytes) -> str:
    """The ``name`` (field 8) of a ``TensorProto`` payload."""
    return next((p.decode() for n, w, _, p in fields(payload) if n == 8 and w == LENGTH_DELIMITED), "")


def default_opset(model: bytes) -> int:
    """The version of the default (``ai.onnx``) operator set that the ``ModelProto`` ``model`` imports."""
    for number, wire, _, payload in fields(model):
        if number == MODEL_OPSET and wire == LENGTH_DELIMITED:
            domain, version = "", 0
            for n, w, _, p in fields(payload):
                if n == 1 and w == LENGTH_DELIMITED:
                    domain = p.decode()
                elif n == 2 and w == VARINT:
                    version = read_varint(p, 0)[0]
            if domain in DEFAULT_DOMAINS:
                return version
    raise GeoSslError("the model imports no ONNX operator set")


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
        raise GeoSslError(f"the tensor {name!r} is not stored as float32 or int64 raw data")
    values = np.frombuffer(data, dtype=kinds[data_type])
    if values.size != int(np.prod(dims, dtype=np.int64)):
        raise GeoSslError(f"the tensor {name!r} holds {values.size} values for the shape {dims}")
    return name, values.reshape(dims).astype(values.dtype.newbyteorder("="))


def packed_varints(buf: bytes) -> list[int]:
    """The integers of a packed repeated varint field."""
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
    """The :class:`Node` of a ``NodeProto`` payload."""
    parts: dict[int, list[bytes]] = {1: [], 2: [], 3: [], 4: [], 5: []}
    for number, wire, _, value in fields(payload):
        if number in parts and wire == LENGTH_DELIMITED:
            parts[number].append(value)
    text = {n: tuple(v.decode() for v in parts[n]) for n in (1, 2, 3, 4)}
    return Node(text[4][0] if text[4] else "", text[1], text[2], text[3][0] if text[3] else "",
                tuple(name_of(a) for a in parts[5]))
