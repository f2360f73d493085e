"""``python -m trainer inspect``: what an ONNX model is, and whether it runs (no torch: plugin-side code only)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qgis_csp_plugin.contract.onnx_model import OnnxModel


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer inspect",
        description="Print an exported model's metadata, inputs/outputs, export report and file size "
                    "(the text the QGIS plugin shows as tooltip), then run a random batch as a self check.")
    p.add_argument("models", nargs="+", type=Path, help="ONNX model file(s)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    for index, path in enumerate(args.models):
        model = OnnxModel.load(path, check=False)  # describe, then self-check
        if index:
            print()
        print(model.describe())
        print(model.self_check())
    return 0
