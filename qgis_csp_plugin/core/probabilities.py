"""Probability math shared by classification and heatmaps: fusion, top-k, entropy."""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def fuse(p_image: np.ndarray, p_location: np.ndarray) -> np.ndarray:
    """P(y | image, location) ∝ P(y | image) · P(y | location), renormalised per row (CSP eq.)."""
    if p_image.shape != p_location.shape:
        raise ValueError(f"cannot fuse probabilities of shapes {p_image.shape} and {p_location.shape}")
    joint = p_image.astype(np.float64) * p_location.astype(np.float64)
    total = joint.sum(axis=1, keepdims=True)
    # Rows where every class underflows fall back to the image prediction.
    fused = np.where(total > EPS, joint / np.maximum(total, EPS), p_image)
    return fused.astype(np.float32)


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` most likely classes per row, most likely first."""
    k = min(k, probabilities.shape[1])
    idx = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probabilities, idx, axis=1)


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats per row."""
    p = np.clip(probabilities.astype(np.float64), EPS, 1.0)
    return (-(p * np.log(p)).sum(axis=1)).astype(np.float32)
