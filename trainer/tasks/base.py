"""What every trainer LightningModule shares: it records its class in checkpoints and exports."""

from __future__ import annotations

import lightning as L

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
