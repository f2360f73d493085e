"""Write an :class:`ExportSpec` to ONNX atomically, with metadata and a torch↔onnxruntime parity check."""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from qgis_csp_plugin.core.onnx_model import OnnxModel
from trainer.errors import TrainerError
from trainer.export.spec import ExportSpec

OPSET = 17


@dataclass
class ParityReport:
    max_abs_diff: float
    atol: float
    batch: int

    def __str__(self) -> str:
        verdict = "ok" if self.max_abs_diff <= self.atol else "FAILED"
        return f"parity {verdict}: max |torch - onnxruntime| = {self.max_abs_diff:.2e} (bound {self.atol:g}, batch {self.batch})"


def export_onnx(spec: ExportSpec, out_path: str | os.PathLike) -> ParityReport:
    """Export ``spec`` to ``out_path``; on any failure nothing is left at ``out_path``."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    spec.metadata.validate()
    module = spec.module.eval()
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx.part", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, spec.example_inputs, str(tmp), input_names=list(spec.input_names),
                output_names=[spec.output_name], opset_version=OPSET, dynamo=False,
                dynamic_axes={name: {0: "batch"} for name in (*spec.input_names, spec.output_name)},
            )
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        for key, value in spec.metadata.to_props().items():
            proto.metadata_props.add(key=key, value=value)
        proto.doc_string = spec.metadata.describe()
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        report = parity_check(spec, tmp)
        if report.max_abs_diff > spec.atol:
            raise TrainerError(f"export of {spec.metadata.name} rejected, {report}")
        os.replace(tmp, out_path)
        return report
    finally:
        tmp.unlink(missing_ok=True)


def parity_check(spec: ExportSpec, onnx_path: str | os.PathLike, batch: int = 5, seed: int = 0) -> ParityReport:
    """Run the same random batch (shaped like the example inputs) through torch and onnxruntime."""
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for name, example in zip(spec.input_names, spec.example_inputs):
        shape = (batch, *example.shape[1:])
        if name == "latlon":
            u = torch.rand(shape, generator=generator)
            x = torch.stack([u[:, 0] * 180 - 90, u[:, 1] * 360 - 180], dim=1)
        else:
            x = example[:1].repeat(batch, *[1] * (example.dim() - 1)) * (0.5 + torch.rand(shape, generator=generator))
        inputs.append(x.float())
    with torch.no_grad():
        expected = spec.module.eval()(*inputs).numpy()
    model = OnnxModel.load(onnx_path)
    feeds = dict(zip(spec.input_names, (x.numpy() for x in inputs)))
    got = model.session.run([spec.output_name], feeds)[0]
    return ParityReport(float(np.max(np.abs(got - expected))), spec.atol, batch)
