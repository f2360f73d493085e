"""The trainer's one checkpoint reader: read a checkpoint safely and pick prefixed weights
(:func:`trainer.tasks.base.load_task` rebuilds the task a checkpoint records).

Checkpoints are loaded without running code: ``torch.load(weights_only=True)`` with a small
allow-list. A pickle can call any function while it loads, so a crafted ``.ckpt`` would run code
before any check of ours; a file that needs more than tensors, plain Python data and path objects
is refused with a message naming what it needs.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from trainer.errors import TrainerError

SAFE_GLOBALS = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath, pathlib.PureWindowsPath]


@contextmanager
def allowed_globals() -> Iterator[None]:
    """The allow-list in force (also for Lightning's own ``load_from_checkpoint``)."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        yield


def read_checkpoint(path: str | os.PathLike, what: str = "checkpoint", mmap: bool = False) -> dict:
    """The dict saved in ``path`` (on CPU, ``weights_only=True``; ``mmap``: tensors mapped from the file,
    not read, for a check); :class:`TrainerError` naming ``what`` when it is missing or not a torch file,
    or saying why it was refused."""
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"{what} not found: {path}")
    try:
        with allowed_globals():
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # pickle, zip and torch errors all mean "not a checkpoint"
        needs = re.search(r"GLOBAL ([\w.]+)", str(exc)) if isinstance(exc, pickle.UnpicklingError) else None
        if needs:  # a class or function outside the allow-list: the pickle wants to run code
            raise TrainerError(refusal(path, needs.group(1))) from exc
        raise TrainerError(f"{path} is not a Lightning checkpoint (torch.load failed: "
                           f"{str(exc).splitlines()[0][:160]})") from exc
    if not isinstance(checkpoint, dict):
        raise TrainerError(f"{path} is not a Lightning checkpoint or state dict")
    return checkpoint


def refusal(path: Path, needs: str) -> str:
    """Why a weights-only load refused ``path``: the global (class or function) it needs."""
    return (f"refused to load {path}: it needs {needs}, and loading it could run code. Only tensors and plain "
            "data are loaded (torch.load weights_only=True); if you trust this file, re-save its state_dict "
            "with torch.save and load that")


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` whose keys start with ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
