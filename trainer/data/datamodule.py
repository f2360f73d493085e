"""What the trainer's Lightning data modules share: the shards-or-files dispatch, the split policy and the
loaders.

A data module reads either files (record tables of :mod:`trainer.data.registry`, split by the one policy of
:mod:`trainer.data.splits`: by place, stratified by label) or one shard set (``shards:<dir-or-URL>``, streamed,
with the split written when it was built). Map-style datasets are read by seeded DataLoader workers; shard
splits are streamed, and the streamed training loader's position goes into Lightning checkpoints, so a
resumed run continues mid-epoch (Lightning's own loader-state restore is skipped when the task asks for
``estimated_stepping_batches``, so the data module carries it).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import pandas as pd
from torch.utils.data import DataLoader, Dataset, IterableDataset

from trainer.data.shards import ResumableLoader, is_shards, shard_loader, shard_location
from trainer.data.splits import split_by_place
from trainer.data.tiles import loader
from trainer.errors import TrainerError


class GeoDataModule(L.LightningDataModule):
    """Base of the image data modules (:class:`~trainer.data.image_datamodule.ImageDataModule`,
    :class:`~trainer.data.csp_datamodule.CspPairs`)."""

    _shard_loader: ResumableLoader | None = None
    _shard_loader_state: dict | None = None

    @staticmethod
    def shard_set(sources: list[str] | tuple[str, ...], folds: int = 0) -> str | None:
        """The folder or URL of the shard set when ``sources`` is one ``shards:`` source, ``None`` for files;
        a shard set mixed with other sources, or with ``folds``, is refused."""
        if not any(is_shards(source) for source in sources):
            return None
        if len(sources) != 1:
            raise TrainerError("a shards: source streams on its own: build one shard set from all sources")
        if folds:
            raise TrainerError("a shard set holds the one train/val/test split drawn when it was built: folds "
                               "need a source that is not sharded")
        return shard_location(sources[0])

    @staticmethod
    def split(records: pd.DataFrame, val_fraction: float, test_fraction: float, seed: int, folds: int = 0,
              fold: int = 0) -> dict[str, pd.DataFrame]:
        """The trainer's split policy (:func:`~trainer.data.splits.split_by_place`)."""
        return split_by_place(records, val_fraction, test_fraction, seed, folds, fold)

    @staticmethod
    def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                    num_workers: int = 0, pin_memory: bool = False, persistent_workers: bool = False) -> DataLoader:
        """A loader over ``dataset``: a streamed shard split through litdata's loader (which shuffles as its
        dataset was built to), any other dataset through :func:`~trainer.data.tiles.loader`."""
        if isinstance(dataset, IterableDataset):
            return shard_loader(dataset, batch_size, num_workers, pin_memory, persistent_workers)
        return loader(dataset, batch_size, shuffle, drop_last, num_workers, pin_memory, persistent_workers)

    def resumable_loader(self, dataset: IterableDataset, batch_size: int, num_workers: int = 0,
                         pin_memory: bool = False, persistent_workers: bool = False) -> ResumableLoader:
        """The training loader of a streamed shard split, at the saved position after a resume."""
        self._shard_loader = shard_loader(dataset, batch_size, num_workers, pin_memory, persistent_workers)
        if self._shard_loader_state:
            self._shard_loader.load_state_dict(self._shard_loader_state)
            self._shard_loader_state = None
        return self._shard_loader

    def state_dict(self) -> dict[str, Any]:
        return {"shard_loader": self._shard_loader.state_dict()} if self._shard_loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._shard_loader_state = state_dict.get("shard_loader")
