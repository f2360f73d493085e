"""Rebuild the trainer task that wrote a Lightning checkpoint (from its ``geossl_task`` entry)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from trainer.errors import TrainerError
from trainer.safe_checkpoint import allowed_globals, load_checkpoint
from trainer.tasks.base import TASK_KEY, ExportableTask


def task_class(path: str | os.PathLike) -> type[ExportableTask]:
    """The :class:`ExportableTask` subclass recorded in checkpoint ``path``; raises :class:`TrainerError`."""
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"checkpoint not found: {path}")
    checkpoint = load_checkpoint(path, "Lightning checkpoint")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise TrainerError(f"{path} is not a Lightning checkpoint (no 'state_dict' entry)")
    reference = checkpoint.get(TASK_KEY)
    if not isinstance(reference, str) or ":" not in reference:
        raise TrainerError(f"{path} was not written by a geo-SSL trainer task (no '{TASK_KEY}' entry); "
                           "export checkpoints saved by `python -m trainer csp|moco|finetune`")
    module_name, _, qualname = reference.partition(":")
    try:
        found = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise TrainerError(f"{path} was written by task {reference!r}, which this trainer does not have "
                           f"({exc}); use the trainer version that trained it") from exc
    if not (isinstance(found, type) and issubclass(found, ExportableTask)):
        raise TrainerError(f"{path}: {reference!r} is not a geo-SSL trainer task")
    return found


def load_task(path: str | os.PathLike) -> ExportableTask:
    """Rebuild the task with its saved hyper-parameters and weights, on CPU, in eval mode."""
    cls = task_class(path)
    try:
        with allowed_globals():
            task = cls.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise TrainerError(f"{path}: cannot rebuild {cls.__name__} from this checkpoint: "
                           f"{str(exc).splitlines()[0][:200]}") from exc
    return task.eval()
