"""``python -m trainer export``: a trained checkpoint → a self-describing ONNX model (+ fp16/int8 variants).

``--kind fused --checkpoint IMAGE.ckpt --location_checkpoint PRIOR.ckpt`` puts an image classifier
(``python -m trainer moco linear-probe|finetune``) and a location prior on the same classes in one
graph (image + latlon in, P(y | I, x) out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qgis_csp_plugin.contract.schema import KINDS, Kind, MetadataError, ModelMetadata
from trainer.errors import TrainerError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer export",
        description="Export a checkpoint written by a trainer task to an ONNX model the QGIS plugin can use. "
                    "The file is written only if onnxruntime reproduces the torch outputs (parity check).")
    p.add_argument("--checkpoint", required=True, type=Path, help="Lightning checkpoint (.ckpt) of a trainer task")
    p.add_argument("--kind", required=True, choices=KINDS, help="what to export from the checkpoint")
    p.add_argument("--location_checkpoint", type=Path,
                   help="with --kind fused: a location prior's checkpoint, fused with the image classifier "
                        "of --checkpoint")
    p.add_argument("--out", required=True, type=Path, help="output file, e.g. models/my_model.onnx")
    p.add_argument("--name", help="display name stored in the model (default: the task's choice)")
    p.add_argument("--description", help="one-line description stored in the model")
    p.add_argument("--fp16", action="store_true",
                   help="also write <out>.fp16.onnx: float16 weights (half size), float32 compute")
    p.add_argument("--int8", action="store_true",
                   help="also write <out>.int8.onnx: onnxruntime dynamic int8 quantisation")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.out.suffix != ".onnx":
        raise TrainerError(f"--out must be a .onnx file, got {args.out}")
    if args.location_checkpoint is not None and args.kind != Kind.FUSED:
        raise TrainerError("--location_checkpoint is only used with --kind fused")
    # Imported here: they pull in torch/Lightning, which `--help` does not need.
    from trainer.export.fused import fused_export_spec
    from trainer.export.onnx_writer import export_onnx
    from trainer.export.quantize import write_variant
    from trainer.tasks.base import load_task

    task = load_task(args.checkpoint)
    try:
        if args.location_checkpoint is not None:
            spec = fused_export_spec(task.export_spec(Kind.IMAGE_CLASSIFIER),
                                     load_task(args.location_checkpoint).export_spec(Kind.LOCATION_PRIOR))
        else:
            spec = task.export_spec(args.kind)
        overrides = {key: value for key, value in (("name", args.name), ("description", args.description))
                     if value is not None}
        if overrides:
            spec.metadata = ModelMetadata.from_dict({**spec.metadata.to_dict(), **overrides})
    except MetadataError as exc:
        raise TrainerError(f"cannot export {args.checkpoint.name} as {args.kind}: {exc}") from exc
    report = export_onnx(spec, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {spec.metadata.name} ({args.kind})")
    print(report)
    for precision, wanted in (("fp16", args.fp16), ("int8", args.int8)):
        if wanted:
            path, change = write_variant(args.out, precision)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): accuracy change {change}")
    return 0
