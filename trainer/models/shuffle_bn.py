"""Shuffle-BN (MoCo-v1/v2): run the key encoder on a random cross-process shard of the global batch.

Without it, a key and its query see BatchNorm statistics of the same per-process sub-batch, a signal
the model can use to find the positive instead of learning features. Every process gathers the
batch, takes its shard of one permutation (drawn on rank 0, broadcast), encodes it and gathers the
outputs back into the original order. Works with any ``torch.distributed`` backend (gloo on CPU,
nccl on GPU). In a single process it is the identity: BatchNorm statistics over the whole local batch
do not depend on its order, so a local shuffle would change nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist


def distributed_world() -> tuple[int, int]:
    """``(rank, world size)`` of the default process group; ``(0, 1)`` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_batches(x: torch.Tensor) -> torch.Tensor:
    """The equal-sized batches of all processes, concatenated in rank order (no gradient)."""
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def batch_shuffle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(this process's shard of the shuffled global batch, permutation)``; single process: ``(x, arange)``."""
    rank, world = distributed_world()
    if world == 1:
        return x, torch.arange(x.shape[0], device=x.device)
    everything = gather_batches(x)
    permutation = torch.randperm(everything.shape[0], device=x.device)
    dist.broadcast(permutation, src=0)
    return everything[permutation.view(world, -1)[rank]], permutation


@torch.no_grad()
def batch_unshuffle(y: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`batch_shuffle` on per-row outputs ``y`` of the shard: rows of this process's batch."""
    rank, world = distributed_world()
    if world == 1:
        return y
    inverse = torch.argsort(permutation)
    return gather_batches(y)[inverse.view(world, -1)[rank]]


@torch.no_grad()
def shuffle_bn_forward(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``encoder(x)`` row for row, each row computed in a random cross-process shard (shuffle-BN)."""
    shard, permutation = batch_shuffle(x)
    return batch_unshuffle(encoder(shard), permutation)
