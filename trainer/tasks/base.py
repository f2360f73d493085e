"""What every trainer LightningModule shares: it records its class in checkpoints (:func:`load_task` rebuilds
it) and exports."""

from __future__ import annotations

import importlib
import math
import os

import lightning as L
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from trainer.checkpoints import allowed_globals, read_checkpoint
from trainer.errors import TrainerError
from trainer.export.spec import ExportSpec

TASK_KEY = "geossl_task"


class ExportableTask(L.LightningModule):
    """Base class: subclasses list ``EXPORT_KINDS`` and implement :meth:`build_export_spec`.

    Checkpoints carry ``geossl_task = "module:Class"`` so ``python -m trainer export`` can rebuild
    the right class with ``load_from_checkpoint`` (hyper-parameters saved with ``save_hyperparameters``).
    """

    EXPORT_KINDS: tuple[str, ...] = ()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[TASK_KEY] = f"{type(self).__module__}:{type(self).__qualname__}"

    def export_spec(self, kind: str, **options) -> ExportSpec:
        if kind not in self.EXPORT_KINDS:
            supported = ", ".join(self.EXPORT_KINDS) or "none"
            raise TrainerError(
                f"a {type(self).__name__} checkpoint cannot be exported as {kind!r}; it supports: {supported}"
            )
        return self.build_export_spec(kind, **options)

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        raise NotImplementedError


def topk_accuracies(num_classes: int, ks: tuple[int, ...], prefix: str) -> MetricCollection:
    """``<prefix>top<k>`` for each k in ``ks``: the exact top-k accuracy over every prediction passed to
    ``update`` (k capped at ``num_classes``), synchronised across DDP ranks by torchmetrics, not a mean of batch
    means. No compute groups: top-1 and top-3 may hold equal states after one batch and must not merge."""
    return MetricCollection({f"top{k}": MulticlassAccuracy(num_classes, top_k=min(k, num_classes), average="micro")
                             for k in ks}, prefix=prefix, compute_groups=False)


class ClassifierTask(ExportableTask):
    """A task with a held-out evaluation: ``test/top1`` of its test run is saved in checkpoints and
    exported as the ``heldout_top1`` metric. Top-k accuracies are torchmetrics collections per stage
    (:meth:`log_accuracies`): epoch-level and exact for ``val``/``test``, per step for ``train``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("heldout_top1", torch.tensor(math.nan))  # set by test, saved, exported
        self.accuracies = nn.ModuleDict()  # "<stage>_stage" -> MetricCollection (no state in checkpoints)

    def init_accuracies(self, num_classes: int, ks_by_stage: dict[str, tuple[int, ...]]) -> None:
        """One :func:`topk_accuracies` collection per stage, e.g. ``{"val": (1, 3), "test": (1, 3)}``."""
        for stage, ks in ks_by_stage.items():
            self.accuracies[f"{stage}_stage"] = topk_accuracies(num_classes, ks, prefix=f"{stage}/")

    def log_accuracies(self, stage: str, scores: torch.Tensor, label: torch.Tensor, **log_options) -> None:
        """Add a batch of class ``scores`` (N, K: logits or probabilities) to ``stage``'s accuracies and log
        them (Lightning logs a training step's batch value, and computes and resets at epoch end)."""
        metrics = self.accuracies[f"{stage}_stage"]  # (a key "train" would shadow Module.train)
        if stage == "train":
            metrics(scores.detach(), label)  # the batch's value, accumulated for the epoch
        else:
            metrics.update(scores, label)
        self.log_dict(metrics, batch_size=len(label), **log_options)

    def on_test_epoch_end(self) -> None:
        top1 = self.trainer.callback_metrics.get("test/top1")
        if top1 is not None:
            self.heldout_top1.fill_(float(top1))

    def heldout_metrics(self) -> dict[str, float]:
        """``{"heldout_top1": …}`` once tested, else ``{}``."""
        top1 = float(self.heldout_top1)
        return {} if math.isnan(top1) else {"heldout_top1": top1}


def task_class(path: str | os.PathLike) -> type[ExportableTask]:
    """The :class:`ExportableTask` subclass recorded in checkpoint ``path``; raises :class:`TrainerError`."""
    checkpoint = read_checkpoint(path)
    if "state_dict" not in checkpoint:
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
