"""Presence-only loss of a location prior (Mac Aodha et al. 2019, eq. 7; CSP's fine-tuning loss).

Each class ``c`` has its own sigmoid output ``σ(z_c(x))`` = "class c is present at x". For a
labelled location ``x`` of class ``y`` and random locations ``r`` uniform on the sphere::

    L = mean_{b, c}[ λ·[c = y_b]·(-log σ(z_c(x_b))) + [c ≠ y_b]·(-log(1 - σ(z_c(x_b)))) ]
        + w_bg · mean_{r, c}[ -log(1 - σ(z_c(r))) ]

with ``λ`` = the number of classes by default (positive weight) and ``w_bg`` = 1 (both as in the
authors' code). ``-log σ(z)`` and ``-log(1 - σ(z))`` are computed as ``softplus(-z)`` and
``softplus(z)`` (exact and stable; the authors' code uses ``-log(p + 1e-5)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def presence_only_loss(logits: torch.Tensor, labels: torch.Tensor, background_logits: torch.Tensor,
                       positive_weight: float | None = None, background_weight: float = 1.0) -> torch.Tensor:
    """Scalar loss of ``logits (N, K)`` at labelled locations and ``background_logits (R, K)`` at random ones."""
    weight = float(logits.shape[1]) if positive_weight is None else positive_weight
    positive = F.one_hot(labels, logits.shape[1]).bool()
    per_entry = torch.where(positive, weight * F.softplus(-logits), F.softplus(logits))
    return per_entry.mean() + background_weight * F.softplus(background_logits).mean()
