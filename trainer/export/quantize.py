"""Smaller variants of an exported float32 model (fp16 weights, dynamic int8) and their accuracy change.

``fp16`` stores weights as float16 and casts them back to float32 inside the graph: half the file
size, float32 inputs/outputs and float32 compute, so it runs on every onnxruntime CPU build.
``int8`` is onnxruntime's dynamic quantisation (uint8 weights, activations quantised at run time).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import EXPORT_REPORT_KEY, ModelMetadata
from trainer.export.atomic import atomic_output
from trainer.export.onnx_writer import write_props

PRECISIONS = ("fp16", "int8")
FP16_MAX = float(np.finfo(np.float16).max)
MIN_CAST_SIZE = 16  # tiny tensors (biases of 1-2 values, shapes) stay float32


@dataclass
class AccuracyChange:
    """How a variant's outputs differ from the float32 model's on the same random batch."""

    precision: str
    max_abs_diff: float
    top1_agreement: float | None
    batch: int

    def __str__(self) -> str:
        text = f"{self.precision}: max |float32 - {self.precision}| = {self.max_abs_diff:.2e}"
        if self.top1_agreement is not None:
            text += f", top-1 agreement {self.top1_agreement:.1%}"
        return f"{text} (batch {self.batch})"

    def as_dict(self) -> dict:
        report = {"precision": self.precision, "max_abs_diff_vs_float32": float(f"{self.max_abs_diff:.3g}"),
                  "comparison_batch": self.batch}
        if self.top1_agreement is not None:
            report["top1_agreement_vs_float32"] = self.top1_agreement
        return report


def variant_path(path: str | os.PathLike, precision: str) -> Path:
    """``models/x.onnx`` → ``models/x.int8.onnx``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{precision}{path.suffix}")


def write_variant(source: str | os.PathLike, precision: str, batch: int = 64) -> tuple[Path, AccuracyChange]:
    """Write the ``precision`` variant of float32 model ``source`` beside it (atomically) and compare them."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    source = Path(source)
    target = variant_path(source, precision)
    reference = OnnxModel.load(source)
    with atomic_output(target) as tmp:
        if precision == "fp16":
            onnx.save(fp16_weights(onnx.load(str(source))), str(tmp))
        else:
            int8_dynamic(source, tmp)
        change = compare(reference, OnnxModel.load(tmp, check=False), precision, batch)
        proto = onnx.load(str(tmp))
        meta = reference.metadata
        renamed = ModelMetadata.from_dict({**meta.to_dict(), "name": f"{meta.name} ({precision})"})
        write_props(proto, {**renamed.to_props(), EXPORT_REPORT_KEY: json.dumps(change.as_dict())},
                    doc=renamed.describe())
        onnx.save(proto, str(tmp))
    return target, change


def fp16_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Store float32 initializers as float16, each followed by a Cast back to float32."""
    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(init)
        if array.size < MIN_CAST_SIZE or np.abs(array).max() > FP16_MAX:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(array.astype(np.float16), f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT,
                                      name=f"{name}__to_float32"))
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def int8_dynamic(source: Path, target: Path) -> None:
    """onnxruntime dynamic quantisation (uint8 weights: ConvInteger/MatMulInteger run on every CPU build)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # it logs a generic "consider pre-processing" hint on the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QUInt8)
    finally:
        logging.disable(logging.NOTSET)


def compare(reference: OnnxModel, variant: OnnxModel, precision: str, batch: int) -> AccuracyChange:
    """Same random batch through both models: max abs difference and (classifiers) top-1 agreement."""
    feeds = reference.random_batch(batch, seed=1)
    expected, got = reference.run(**feeds), variant.run(**feeds)
    agreement = None
    if reference.metadata.is_classifier:
        agreement = float(np.mean(expected.argmax(1) == got.argmax(1)))
    return AccuracyChange(precision, float(np.abs(expected - got).max()), agreement, batch)
