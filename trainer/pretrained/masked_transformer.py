"""The pre-norm transformer block of the released Presto and Galileo encoders, with masked keys.

Both released encoders drop the tokens of missing band groups before attention and average the
tokens that remain. Here every token stays in the sequence and the missing ones are excluded by an
additive key bias (``MASKED_BIAS``, whose softmax weight is exactly 0 in float32) and by the masked
mean of :func:`masked_mean`: the kept tokens see exactly what they see in the released models, and
the mask can change at run time inside one ONNX graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Added to the attention logits of masked keys: exp(-1e9) underflows to 0 in float32.
MASKED_BIAS = -1e9


def key_bias(keep: torch.Tensor) -> torch.Tensor:
    """``keep`` (..., L) in {0, 1} → additive attention bias (..., L): 0 where kept, MASKED_BIAS elsewhere."""
    return (1.0 - keep) * MASKED_BIAS


def masked_mean(tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over the kept tokens: ``tokens`` (B, L, D), ``keep`` (L,) or (B, L) in {0, 1} → (B, D)."""
    weights = keep.expand(tokens.shape[:2]).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1)


class MaskedBlock(nn.Module):
    """LayerNorm → multi-head self-attention → residual; LayerNorm → GELU MLP → residual (ViT block)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embedding size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def attention(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        head_dim = dim // self.heads
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        logits = (q * head_dim ** -0.5) @ k.transpose(-2, -1) + bias.reshape(-1, 1, 1, length)
        out = logits.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, D); ``bias`` (L,) or (B, L) from :func:`key_bias`."""
        x = x + self.attention(self.norm1(x), bias)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

    def load_released(self, state: dict[str, torch.Tensor], prefix: str) -> None:
        """Copy a released block (``{prefix}norm1``, ``attn.qkv`` or ``attn.q/k/v``, ``attn.proj``, ``mlp.fc1/2``)."""
        if f"{prefix}attn.qkv.weight" in state:
            qkv = {t: state[f"{prefix}attn.qkv.{t}"] for t in ("weight", "bias")}
        else:
            qkv = {t: torch.cat([state[f"{prefix}attn.{p}.{t}"] for p in "qkv"]) for t in ("weight", "bias")}
        mapped = {"norm1": "norm1", "proj": "attn.proj", "norm2": "norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}
        ours = {f"qkv.{t}": qkv[t] for t in ("weight", "bias")}
        ours.update({f"{our}.{t}": state[f"{prefix}{theirs}.{t}"] for our, theirs in mapped.items()
                     for t in ("weight", "bias")})
        self.load_state_dict(ours, strict=True)
