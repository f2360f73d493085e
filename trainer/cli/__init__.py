"""Command-line entry: ``python -m trainer <command> ...``.

Each command lives in its own module ``trainer.cli.<name>`` exposing ``main(argv) -> int``;
modules are imported lazily so ``python -m trainer inspect`` does not import torch/Lightning.
"""

from __future__ import annotations

import importlib
import os
import sys

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.temp_files import install_sigterm_cleanup

COMMANDS = {
    "csp": ("trainer.cli.csp", "CSP contrastive spatial pre-training (fit/validate, Lightning CLI)"),
    "prior": ("trainer.cli.prior", "train a location prior (location-only classifier) on labelled points"),
    "evaluate": ("trainer.cli.evaluate", "image-only / location-only / fused top-1/top-3 table"),
    "crossval": ("trainer.cli.crossval", "k-fold cross-validated accuracy (95 % CIs) of an image-classifier recipe"),
    "moco": ("trainer.cli.moco", "geography-aware MoCo-v2 (fit, linear-probe, finetune)"),
    "shards": ("trainer.cli.shards", "build litdata shards of any image source for streamed training"),
    "prior-exponent": ("trainer.cli.prior_exponent", "choose a location prior's fusion exponent α on validation data"),
    "import": ("trainer.cli.importer", "import a pretrained location encoder (geoclip) as an ONNX model"),
    "export": ("trainer.cli.export", "export a checkpoint to a self-describing ONNX model"),
    "inspect": ("trainer.cli.inspect", "print an ONNX model's metadata, inputs/outputs and a parity check"),
}

#: old command names -> their command (still run, with a one-line note)
ALIASES = {"finetune": "prior"}

CKPT_KEYWORDS = ("last", "best", "hpc", "null", "None")


def check_ckpt_path(argv: list[str]) -> None:
    """``--ckpt_path FILE`` must exist (Lightning's keywords ``last``, ``best``, ``hpc``, ``registry`` aside)
    and load as a checkpoint through the trainer's one safe loader (:func:`trainer.checkpoints.read_checkpoint`:
    a crafted, truncated or text file is one clear line, not Lightning's traceback)."""
    for index, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--ckpt_path=") else (
            argv[index + 1] if arg == "--ckpt_path" and index + 1 < len(argv) else None)
        if not value or value in CKPT_KEYWORDS or value.startswith("registry"):
            continue
        if not os.path.isfile(value):
            raise GeoSslError(f"--ckpt_path {value}: checkpoint not found (give a .ckpt file, or 'last' to resume "
                              "the latest run)")
        from trainer.checkpoints import read_checkpoint

        if "state_dict" not in read_checkpoint(value, "--ckpt_path", mmap=True):
            raise GeoSslError(f"--ckpt_path {value} is not a Lightning checkpoint (no 'state_dict' entry)")


def usage() -> str:
    rows = "\n".join([f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items()]
                     + [f"  {old:<14} old name of `{new}`" for old, new in ALIASES.items()])
    return f"usage: python -m trainer <command> [options]\n\ncommands:\n{rows}\n\n" \
           "Run `python -m trainer <command> --help` for a command's options."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name in ALIASES:
        print(f"note: `python -m trainer {name}` is now `python -m trainer {ALIASES[name]}`", file=sys.stderr)
        name = ALIASES[name]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    install_sigterm_cleanup()  # a SIGTERM leaves no hidden *.part behind
    try:
        check_ckpt_path(rest)
        return int(module.main(rest) or 0)
    except GeoSslError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the user named: missing, unreadable, unwritable, disk full
        print(f"error: {exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else f"error: {exc}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
