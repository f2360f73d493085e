"""The few-label head appended without the onnx package (``core/onnx_head.py``): on real EuroSAT tiles and
a small 13-band encoder exported by our exporter (the tests' model factory), the in-graph tile statistics and
probabilities equal numpy's (onnxruntime), for every feature set, at the encoder's opset 17 (``ReduceMean``
axes attribute) and converted to 18 (axes input); the result passes ``onnx.checker`` (full check), extra
encoder inputs pass through, and a statistics-only head drops the encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import rasterio
from onnx import TensorProto, helper, numpy_helper, version_converter

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.core.head_selection import fit_head
from qgis_csp_plugin.core.logistic_regression import LogisticModel
from qgis_csp_plugin.core.onnx_head import FEATURES_TENSOR, append_head
from qgis_csp_plugin.core.tile_features import (
    FEATURE_SETS,
    feature_blocks,
    feature_matrix,
    statistic_blocks,
    tile_statistics,
)

REPO = Path(__file__).resolve().parents[2]
CLASSES = ("AnnualCrop", "Forest", "Highway", "Industrial", "SeaLake")


@pytest.fixture(scope="module")
def tiles() -> tuple[np.ndarray, np.ndarray]:
    """Four real 13-band patches of each of five classes (raw L1C digital numbers) and their class ids."""
    paths = [REPO / "data" / "eurosat_ms" / c / f"{c}_{i}.tif" for c in CLASSES for i in range(1, 5)]
    images = []
    for path in paths:
        with rasterio.open(path) as src:
            images.append(src.read().astype(np.float32))
    return np.stack(images), np.repeat(np.arange(len(CLASSES)), 4)


def encoder_bytes(encoder: Path, opset: int) -> bytes:
    model = onnx.load(encoder)
    if opset != model.opset_import[0].version:
        model = version_converter.convert_version(model, opset)
    return model.SerializeToString()


def session(model: bytes, *extra_outputs: str) -> ort.InferenceSession:
    proto = onnx.load_from_string(model)
    proto.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in extra_outputs)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def fitted(blocks: dict[str, np.ndarray], names: tuple[str, ...], y: np.ndarray) -> LogisticModel:
    return fit_head(blocks, names, y, len(CLASSES), c=1.0)


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("geometry", ["point", "polygon"])
@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_in_graph_features_and_probabilities_equal_numpy(tiles, encoder_13, opset, geometry, feature_set):
    images, y = tiles
    source = encoder_bytes(encoder_13, opset)
    blocks = {"embedding": session(source).run(None, {"image": images})[0], **tile_statistics(images)}
    names = feature_blocks(feature_set, statistic_blocks(geometry))
    head = fitted(blocks, names, y)
    merged = append_head(source, names, head, {"k": "v"}, "doc")
    proto = onnx.load_from_string(merged)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.name for o in proto.graph.output] == ["probabilities"] and proto.opset_import[0].version == opset
    reduce_means = [n for n in proto.graph.node if n.op_type == "ReduceMean"]
    if "std" in names:  # the axes: an attribute before opset 18, an input from 18
        assert all((len(n.input) == 2) == (opset >= 18) for n in reduce_means) and len(reduce_means) == 2
    assert any(n.op_type == "Conv" for n in proto.graph.node) == ("embedding" in names)
    probabilities, features = session(merged, FEATURES_TENSOR).run(None, {"image": images})
    expected = feature_matrix(blocks, names)
    assert features.shape == expected.shape
    assert np.abs(features - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())
    assert np.abs(probabilities - head.predict_proba(expected)).max() < 1e-4
    assert (probabilities.argmax(axis=1) == head.predict_proba(expected).argmax(axis=1)).all()


def test_statistics_of_any_tile_size_and_the_centre_pixel(tiles, encoder_13):
    """A statistics-only head has no encoder weights, and with a free tile size in the encoder's input
    it accepts other (odd) sizes: the centre pixel is [H // 2, W // 2] as in numpy."""
    images, y = tiles
    crop = np.ascontiguousarray(images[:, :, 3:48, 10:61])  # 45 x 51 px
    names = statistic_blocks("point")
    head = fitted(tile_statistics(images), names, y)
    encoder = onnx.load(encoder_13)
    for axis, name in ((2, "height"), (3, "width")):
        encoder.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = name
    merged = append_head(encoder.SerializeToString(), names, head, {})
    assert len(merged) < 20_000 < encoder_13.stat().st_size
    probabilities, features = session(merged, FEATURES_TENSOR).run(None, {"image": crop})
    expected = feature_matrix(tile_statistics(crop), names)
    assert np.allclose(features[:, -13:], crop[:, :, 22, 25]) and np.allclose(features, expected, rtol=1e-5)
    assert np.abs(probabilities - head.predict_proba(expected)).max() < 1e-4


def with_month_input(model: onnx.ModelProto, weight: np.ndarray) -> onnx.ModelProto:
    """The encoder with a second input ``month`` (N, 1) added to its embedding: embedding + month @ weight."""
    graph = model.graph
    for node in graph.node:
        node.output[:] = ["inner_embedding" if o == "embedding" else o for o in node.output]
    graph.input.append(helper.make_tensor_value_info("month", TensorProto.FLOAT, ["batch", 1]))
    graph.initializer.append(numpy_helper.from_array(weight, "month_weight"))
    graph.node.extend([helper.make_node("MatMul", ["month", "month_weight"], ["month_term"]),
                       helper.make_node("Add", ["inner_embedding", "month_term"], ["embedding"])])
    return model


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_extra_encoder_inputs_pass_through(tiles, encoder_13, feature_set):
    """Encoders with inputs besides ``image`` (Presto/Galileo: masks, lat/lon, month) keep them, used or not."""
    images, y = tiles
    dim = OnnxModel.load(encoder_13).metadata.embedding_dim
    weight = np.random.default_rng(0).normal(size=(1, dim)).astype(np.float32)
    encoder = with_month_input(onnx.load(encoder_13), weight)
    month = np.arange(len(y), dtype=np.float32)[:, None] % 12
    blocks = {"embedding": session(encoder.SerializeToString()).run(None, {"image": images, "month": month})[0],
              **tile_statistics(images)}
    names = feature_blocks(feature_set, statistic_blocks("point"))
    head = fitted(blocks, names, y)
    merged = append_head(encoder.SerializeToString(), names, head, {})
    onnx.checker.check_model(onnx.load_from_string(merged), full_check=True)
    run = session(merged)
    assert [i.name for i in run.get_inputs()] == ["image", "month"]
    probabilities = run.run(None, {"image": images, "month": month})[0]
    assert np.abs(probabilities - head.predict_proba(feature_matrix(blocks, names))).max() < 1e-4


def test_bad_heads_and_encoders_are_refused(tiles, encoder_13):
    images, y = tiles
    names = statistic_blocks("polygon")
    head = fitted(tile_statistics(images), names, y)
    source = onnx.load(encoder_13)
    with pytest.raises(GeoSslError, match="feature blocks"):
        append_head(source.SerializeToString(), ("mean", "texture"), head, {})
    with pytest.raises(GeoSslError, match="do not fit"):
        append_head(source.SerializeToString(), ("mean",), LogisticModel(np.zeros(3), np.ones(2), np.zeros((2, 3)),
                                                                         np.zeros(2)), {})
    old = onnx.load(encoder_13)
    old.opset_import[0].version = 9
    with pytest.raises(GeoSslError, match="opset >= 10; the encoder uses opset 9"):
        append_head(old.SerializeToString(), names, head, {})
    renamed = onnx.load(encoder_13)
    renamed.graph.input[0].name = "pixels"
    with pytest.raises(GeoSslError, match="need the graph input 'image'"):
        append_head(renamed.SerializeToString(), names, head, {})
