"""The CSP task's data: :class:`~trainer.data.csp_datamodule.CspPairs` with the frozen image features it pairs
with the locations, computed by the encoder built here (``image_backbone``: random init drawn with seed 0, or
``image_encoder_checkpoint``: e.g. a ``python -m trainer moco fit`` checkpoint whose band count matches
``bands``), in one streaming pass over the items, and cached (``feature_cache_dir``) for later runs and
``python -m trainer evaluate``."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from trainer.data.csp_datamodule import CspPairs
from trainer.data.feature_cache import cached_features, file_hash
from trainer.errors import TrainerError
from trainer.models.frozen import frozen_backbone, stream_features


class CspDataModule(CspPairs):
    """CSP pairs with frozen features (see :class:`~trainer.data.csp_datamodule.CspPairs` for the options)."""

    cache_hit: bool | None = None  # set when features come from (True) or go to (False) the cache

    @cached_property
    def features(self) -> np.ndarray:
        """``(N, F)`` frozen features of every item, held-out ones included (computed once in one
        streaming pass, or memory-mapped from the feature cache)."""
        hp, items = self.hparams, self.items
        if hp.image_encoder_trainable:
            raise TrainerError("image_encoder_trainable: the image encoder trains end to end, there are no "
                               "frozen features")
        model = frozen_backbone(hp.image_backbone, len(hp.bands), hp.image_encoder_checkpoint)
        shape = (len(items.records), int(model.num_features))

        def compute(out: np.ndarray) -> None:
            for dataset, first in items.parts:
                stream_features(dataset, model, items.mean, items.std, out[first:], num_workers=hp.num_workers)

        if hp.feature_cache_dir is None:
            features = np.empty(shape, np.float32)
            compute(features)
            return features
        key = {"backbone": hp.image_backbone, "checkpoint_sha256": file_hash(hp.image_encoder_checkpoint),
               "bands": list(hp.bands), "tile_size": hp.tile_size, "band_mean": items.mean.tolist(),
               "band_std": items.std.tolist(), "data": items.fingerprint()}
        features, self.cache_hit = cached_features(hp.feature_cache_dir, key, shape, compute)
        return features

    @property
    def feature_dim(self) -> int:
        """Width of the image features (linked to the model at instantiation)."""
        hp = self.hparams
        if hp.image_encoder_trainable:
            return int(frozen_backbone(hp.image_backbone, len(hp.bands), hp.image_encoder_checkpoint).num_features)
        return int(self.features.shape[1])
