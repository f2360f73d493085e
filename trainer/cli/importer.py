"""``python -m trainer import geoclip --out models/geoclip_location_encoder.onnx``: a released encoder → our ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.errors import TrainerError

SOURCES = ("geoclip",)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer import",
        description="Import a pretrained location encoder released elsewhere as a self-describing ONNX model "
                    "(kind location_encoder). geoclip: the weights of the installed `geoclip` package "
                    "(pip install --no-deps geoclip==1.3.0; nothing is downloaded), checked against "
                    "GeoCLIP's own LocationEncoder on 10,000 points (max |diff| <= 1e-4).")
    p.add_argument("source", choices=SOURCES, help="where the encoder comes from")
    p.add_argument("--out", required=True, type=Path, help="output file, e.g. models/geoclip_location_encoder.onnx")
    p.add_argument("--name", default="GeoCLIP location encoder", help="display name stored in the model")
    p.add_argument("--fp16", action="store_true",
                   help="also write <out>.fp16.onnx: float16 weights (19 MB instead of 38), float32 compute")
    p.add_argument("--int8", action="store_true",
                   help="also write <out>.int8.onnx: onnxruntime dynamic int8 quantisation (faster on CPU)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.out.suffix != ".onnx":
        raise TrainerError(f"--out must be a .onnx file, got {args.out}")
    from trainer.export.quantize import write_variant  # torch: not needed for --help
    from trainer.pretrained.geoclip_import import import_geoclip

    print(import_geoclip(args.out, args.name))
    for precision, wanted in (("fp16", args.fp16), ("int8", args.int8)):
        if wanted:
            path, change = write_variant(args.out, precision)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): accuracy change {change}")
    return 0
