"""Load checkpoints without running code: ``torch.load(weights_only=True)`` with a small allow-list.

A pickle can call any function while it loads, so a crafted ``.ckpt`` would run code before any
check of ours. Only tensors, plain Python data and the few harmless classes Lightning checkpoints
hold are loaded; a file that needs anything else is refused with a message naming what it needs.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from trainer.errors import TrainerError

SAFE_GLOBALS = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath, pathlib.PureWindowsPath]


@contextmanager
def allowed_globals() -> Iterator[None]:
    """The allow-list in force (also for Lightning's own ``load_from_checkpoint``)."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        yield


def load_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """``torch.load`` of a local file on CPU with ``weights_only=True``; :class:`TrainerError` on refusal.

    ``what`` names the expected file in messages ("CSP checkpoint", "backbone checkpoint", ...).
    """
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"{what} not found: {path}")
    try:
        with allowed_globals():
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle and torch errors all mean "not a checkpoint"
        needs = re.search(r"GLOBAL ([\w.]+)", str(exc)) if isinstance(exc, pickle.UnpicklingError) else None
        if needs:  # a class or function outside the allow-list: the pickle wants to run code
            raise TrainerError(refusal(path, needs.group(1))) from exc
        raise TrainerError(f"{path} is not a {what} (torch.load failed: "
                           f"{str(exc).splitlines()[0][:160]})") from exc


def refusal(path: Path, needs: str) -> str:
    """Why a weights-only load refused ``path``: the global (class or function) it needs."""
    return (f"refused to load {path}: it needs {needs}, and loading it could run code. Only tensors and plain data "
            "are loaded (torch.load weights_only=True); if you trust this file, re-save its state_dict "
            "with torch.save and load that")
