"""MoCo building blocks: the FIFO queue of negative keys, InfoNCE logits against it, momentum update."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KeyQueue(nn.Module):
    """A FIFO queue of L2-normalised keys ``(size, dim)``; buffers, so it is saved in checkpoints."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest entries with ``keys`` (the batch may be any size; wraps around)."""
        keys = keys.detach().to(self.keys.dtype)[-self.size:]
        rows = (self.ptr + torch.arange(keys.shape[0], device=keys.device)) % self.size
        self.keys[rows] = keys
        self.ptr.copy_((self.ptr + keys.shape[0]) % self.size)


def moco_logits(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """``(N, 1 + size)`` logits: the positive ``q·k`` first, then ``q`` against every queued key."""
    positive = (q * k).sum(dim=1, keepdim=True)
    negatives = q @ queue.t()
    return torch.cat([positive, negatives], dim=1) / temperature


@torch.no_grad()
def momentum_update(key: nn.Module, query: nn.Module, momentum: float) -> None:
    """``key <- m·key + (1 - m)·query`` for parameters; buffers (BN statistics) are copied."""
    for pk, pq in zip(key.parameters(), query.parameters(), strict=True):
        pk.mul_(momentum).add_(pq.detach(), alpha=1.0 - momentum)
    for bk, bq in zip(key.buffers(), query.buffers(), strict=True):
        bk.copy_(bq)
