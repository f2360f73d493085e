"""Early stopping on the validation log-loss, keeping the weights of the best validation epoch.

Lightning's ``EarlyStopping`` stops a run that no longer improves; :class:`BestWeights` keeps an
in-memory copy of the weights at the best ``val/loss`` and puts them back when the fit ends, so what
is tested, saved and exported is the best validated model, not the last one. With a full sanity check
(``num_sanity_val_steps=-1``) the model before training counts too (epoch -1): a fine-tuning that never
beats its frozen-phase head keeps that head. It also records the training curve (one row per
validation: epoch, step, train and validation loss).
"""

from __future__ import annotations

import copy
import math

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping

MONITOR = "val/loss"


class BestWeights(Callback):
    """Restore the weights of the lowest ``monitor`` at the end of ``fit``; ``history`` holds the curve."""

    def __init__(self, monitor: str = MONITOR) -> None:
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1
        self.state: dict | None = None
        self.history: list[dict] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking and trainer.num_sanity_val_steps != math.inf:
            return  # a partial check of a few batches says nothing of the model
        epoch = -1 if trainer.sanity_checking else trainer.current_epoch
        metrics = trainer.callback_metrics
        value = metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        row = {"epoch": epoch, "step": trainer.global_step, self.monitor: value}
        row.update({k: float(v) for k, v in metrics.items() if k != self.monitor and k.startswith(("train/", "val/"))})
        self.history.append(row)
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.state_dict().items()})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.state is not None:
            pl_module.load_state_dict(self.state)


def early_stopping(patience: int, monitor: str = MONITOR) -> list[Callback]:
    """Stop after ``patience`` validations without a lower ``monitor``, then restore the best weights."""
    return [EarlyStopping(monitor=monitor, mode="min", patience=patience), BestWeights(monitor)]
