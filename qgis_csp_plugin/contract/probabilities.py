"""Probability math shared by classification and heatmaps: fusion, top-k, entropy, row summaries.

Rows hold a few classes: numpy's reductions along such a short last axis are slow (30 ns a row
for ``max(axis=1)``), so row sums and maxima go column by column, 3-10x faster on heatmap-sized
arrays (and without BLAS, whose own threads would contend with parallel heatmap workers).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def fuse(p_image: np.ndarray, p_location: np.ndarray, exponent: float = 1.0) -> np.ndarray:
    """P(y | image, location) ∝ P(y | image) · P(y | location)^α, renormalised per row (CSP eq. for
    α = 1; α = 0 returns the image prediction, α between tempers the prior)."""
    if p_image.shape != p_location.shape:
        raise ValueError(f"cannot fuse probabilities of shapes {p_image.shape} and {p_location.shape}")
    if not 0.0 <= exponent < np.inf:
        raise ValueError(f"the prior exponent α must be a finite number >= 0, got {exponent!r}")
    p_location = np.asarray(p_location, dtype=np.float32)
    if exponent == 0.0:
        return np.asarray(p_image, dtype=np.float32).copy()
    if exponent != 1.0:
        p_location = p_location ** np.float32(exponent)
    joint = np.asarray(p_image, dtype=np.float32) * p_location
    total = row_sums(joint)[:, None]
    # Rows where every class underflows fall back to the image prediction.
    return np.where(total > EPS, joint / np.maximum(total, EPS), p_image).astype(np.float32, copy=False)


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` most likely classes per row, most likely first."""
    k = min(k, probabilities.shape[1])
    idx = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probabilities, idx, axis=1)


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each row normalised to sum 1: softmax rows are unchanged, rows of a
    sigmoid location prior (presence probabilities, any sum) become the distribution ∝ presence.
    With s = Σ p: H(p / s) = log s − Σ p log p / s."""
    p = np.clip(probabilities.astype(np.float64), EPS, 1.0)
    total = row_sums(p)
    return (np.log(total) - row_sums(p * np.log(p)) / total).astype(np.float32)


def row_sums(values: np.ndarray) -> np.ndarray:
    """Sum of each row (NaN/inf propagate, so it also flags incomplete rows)."""
    result = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        result += values[:, column]
    return result


def row_max(values: np.ndarray) -> np.ndarray:
    """Maximum of each row."""
    result = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        np.maximum(result, values[:, column], out=result)
    return result
