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
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.out.suffix != ".onnx":
        raise TrainerError(f"--out must be a .onnx file, got {args.out}")
    from trainer.pretrained.geoclip_import import import_geoclip  # torch: not needed for --help

    print(import_geoclip(args.out, args.name))
    return 0
