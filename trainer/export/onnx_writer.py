"""Write an :class:`ExportSpec` to ONNX atomically, with metadata and a torch↔onnxruntime parity check."""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import torch

from qgis_csp_plugin.contract.onnx_model import OnnxModel, check_tile_size
from qgis_csp_plugin.contract.schema import EXPORT_REPORT_KEY
from trainer import __version__
from trainer.errors import TrainerError
from trainer.export.atomic import atomic_output
from trainer.export.spec import ExportSpec

OPSET = 17


@dataclass
class ParityReport:
    max_abs_diff: float
    atol: float
    batch: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.atol

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (f"parity {verdict}: max |torch - onnxruntime| = {self.max_abs_diff:.2e} "
                f"(bound {self.atol:g}, batch {self.batch})")

    def as_props(self) -> dict[str, str]:
        """The ``geossl_export`` metadata entry recording this check."""
        report = {"precision": "float32", "opset": OPSET, "parity_max_abs_diff": float(f"{self.max_abs_diff:.3g}"),
                  "parity_bound": self.atol, "parity_batch": self.batch}
        return {EXPORT_REPORT_KEY: json.dumps(report)}


def export_onnx(spec: ExportSpec, out_path: str | os.PathLike) -> ParityReport:
    """Export ``spec`` to ``out_path``; on any failure nothing is left at ``out_path``.

    A file already at ``out_path`` is replaced only after the new one passed the parity check.
    """
    spec.metadata.validate()
    with atomic_output(out_path) as tmp:
        tmp.write_bytes(spec.graph() if spec.graph is not None else
                        traced_onnx(spec.module, spec.example_inputs, spec.input_names, spec.output_name,
                                    spec.dynamic_axes))
        proto = onnx.load(str(tmp))
        props = spec.metadata.to_props()
        if not spec.metadata.trainer_version:
            props["trainer_version"] = json.dumps(__version__)
        write_props(proto, props, doc=spec.metadata.describe())
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        report = parity_check(spec, tmp)
        if not report.ok:
            raise TrainerError(f"export of {spec.metadata.name} rejected, {report}")
        write_props(proto, {**props, **report.as_props()})
        onnx.save(proto, str(tmp))
    return report


def traced_onnx(module: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], input_names: Sequence[str],
                output_name: str, dynamic_axes: dict[str, dict[int, str]] | None = None) -> bytes:
    """``torch.onnx.export`` of ``module`` (eval mode) as ONNX bytes; ``dynamic_axes`` by default the batch axis."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), example_inputs, buffer, input_names=list(input_names), output_names=[output_name],
            opset_version=OPSET, dynamo=False,
            dynamic_axes=dynamic_axes or {name: {0: "batch"} for name in (*input_names, output_name)},
        )
    return buffer.getvalue()


def write_props(proto: onnx.ModelProto, props: dict[str, str], doc: str | None = None) -> None:
    """Replace the model's ``metadata_props`` (and optionally its doc string) with ``props``."""
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    if doc is not None:
        proto.doc_string = doc


def parity_check(spec: ExportSpec, onnx_path: str | os.PathLike, batch: int = 5, seed: int = 0) -> ParityReport:
    """Run the same random batch (raw pixels around the training mean, points over the globe)
    through torch and onnxruntime and report the largest absolute difference."""
    model = OnnxModel.load(onnx_path, check=False)  # the parity check reports
    feeds = model.random_batch(batch, seed, size=check_tile_size(spec.metadata))
    with torch.no_grad():
        expected = spec.module.eval()(*(torch.from_numpy(feeds[name]) for name in spec.input_names)).numpy()
    got = model.session.run([spec.output_name], feeds)[0]
    if got.shape != expected.shape:
        raise TrainerError(f"export of {spec.metadata.name} rejected: onnxruntime output shape {got.shape} "
                           f"differs from torch {expected.shape}")
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    return ParityReport(float(np.nan_to_num(diff, nan=np.inf).max()), spec.atol, batch)
