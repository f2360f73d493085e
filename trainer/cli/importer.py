"""``python -m trainer import geoclip|presto|galileo``: a released encoder → our self-describing ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.errors import TrainerError

SOURCES = ("geoclip", "presto", "galileo")
NAMES = {"geoclip": "GeoCLIP location encoder", "presto": "Presto encoder (optical Sentinel-2 pixels)",
         "galileo": "Galileo nano encoder (optical Sentinel-2 tiles)"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer import",
        description="Import a pretrained encoder released elsewhere as a self-describing ONNX model. "
                    "geoclip (location_encoder): the weights of the installed `geoclip` package (pip install "
                    "--no-deps geoclip==1.3.0; nothing is downloaded), checked against GeoCLIP's own LocationEncoder "
                    "on 10,000 points (max |diff| <= 1e-4). presto, galileo (image_encoder): the authors' released "
                    "weights in --source (default ../shared/pretrained/presto and .../galileo_nano), as encoders of "
                    "the 10 optical Sentinel-2 bands with a band mask, (lat, lon) and month inputs "
                    "(docs/model_format.md); torch vs onnxruntime checked (<= 1e-4).")
    p.add_argument("source", choices=SOURCES, help="which encoder")
    p.add_argument("--out", type=Path, help="output .onnx (default: models/geoclip_location_encoder.onnx, "
                                            "models/presto_encoder.onnx, models/galileo_nano_encoder.onnx)")
    p.add_argument("--name", help="display name stored in the model")
    p.add_argument("--source_dir", "--source-dir", type=Path,
                   help="presto/galileo: the folder with the released weights, config and LICENSE")
    p.add_argument("--patch_size", "--patch-size", type=int, default=8,
                   help="galileo: patch size in px (tiles must be multiples; 8 = the released kernels, others are "
                        "resized once at import)")
    p.add_argument("--location", action="store_true", help="galileo: also embed the tile centre's (lat, lon) token")
    p.add_argument("--ndvi", action="store_true", help="galileo: also embed NDVI (from B08 and B04)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.out is not None and args.out.suffix != ".onnx":
        raise TrainerError(f"--out must be a .onnx file, got {args.out}")
    if args.source != "galileo" and (args.patch_size != 8 or args.location or args.ndvi):
        raise TrainerError("--patch_size, --location and --ndvi apply to galileo only")
    if args.source == "geoclip" and args.source_dir is not None:
        raise TrainerError("geoclip is read from the installed package: --source_dir does not apply")
    name = args.name or NAMES[args.source]
    if args.source == "geoclip":
        from trainer.pretrained.geoclip_import import import_geoclip  # torch: not needed for --help

        print(import_geoclip(args.out or Path("models/geoclip_location_encoder.onnx"), name))
        return 0
    from trainer.pretrained import optical_import

    source = args.source_dir or optical_import.DEFAULT_SOURCES[args.source]
    out = args.out or optical_import.DEFAULT_OUTPUTS[args.source]
    if args.source == "presto":
        print(optical_import.import_presto(source, out, name))
    else:
        print(optical_import.import_galileo(source, out, name, args.patch_size, args.location, args.ndvi))
    return 0
