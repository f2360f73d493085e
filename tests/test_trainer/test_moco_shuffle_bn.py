"""Shuffle-BN of the MoCo key encoder: an exact inverse, keys back in their rows, no-op in one process."""

from __future__ import annotations

import torch
from moco_fixtures import check_shuffle_bn_keys_come_back, check_shuffle_is_inverted, spawn_gloo

from trainer.models.shuffle_bn import batch_shuffle, batch_unshuffle
from trainer.tasks.moco import MocoTask


def test_single_process_shuffle_is_the_identity():
    x = torch.randn(5, 3)
    shard, permutation = batch_shuffle(x)
    assert shard is x and torch.equal(permutation, torch.arange(5))
    assert batch_unshuffle(shard, permutation) is shard
    torch.manual_seed(0)
    model = MocoTask(backbone="resnet10t_w32", bands=["B02", "B03", "B04"], queue_size=8).train()
    views = torch.randn(4, 3, 32, 32)
    assert torch.equal(model.encode_keys(views), model.encoder_k(views))  # train-mode BN, same batch


def test_two_gloo_processes_unshuffle_exactly_and_get_their_own_keys_back(tmp_path):
    """One process group (~5 s): shuffle/unshuffle is an exact inverse, then MocoTask keys return to their rows."""
    spawn_gloo(tmp_path, check_shuffle_is_inverted, check_shuffle_bn_keys_come_back)
