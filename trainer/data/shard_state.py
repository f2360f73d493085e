"""Mid-epoch resume of streamed shard training: the loader's position in Lightning checkpoints."""

from __future__ import annotations

from typing import Any

from torch.utils.data import IterableDataset


class ShardLoaderState:
    """Mixin for a LightningDataModule whose training loader may stream a shard split: its litdata
    loader's position is saved in Lightning checkpoints and restored into the next training loader
    (Lightning's own loader-state restore is skipped when the task asks for
    ``estimated_stepping_batches``, so the data module carries it)."""

    _shard_loader: Any = None
    _shard_loader_state: dict | None = None

    def state_dict(self) -> dict:
        return {"shard_loader": self._shard_loader.state_dict()} if self._shard_loader is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._shard_loader_state = state_dict.get("shard_loader")

    def resumable_loader(self, dataset: IterableDataset, batch_size: int, num_workers: int = 0,
                         pin_memory: bool = False, persistent_workers: bool = False) -> Any:
        """The training loader of a streamed shard split, at the saved position after a resume."""
        from trainer.data.shards import shard_loader

        self._shard_loader = shard_loader(dataset, batch_size, num_workers, pin_memory, persistent_workers)
        if self._shard_loader_state:
            self._shard_loader.load_state_dict(self._shard_loader_state)
            self._shard_loader_state = None
        return self._shard_loader
