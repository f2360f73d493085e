"""Three principal components of location embeddings and their scaling to RGB bytes.

A location encoder's metadata may carry a :class:`PcaBasis` fitted at export time on a global
grid; without one the heatmap fits it here on the embeddings of a regular sample of its own grid
(:func:`fit_pca`), so colours then depend on the extent. ``low``/``high`` are the 1st/99th
percentiles of each component, mapped to bytes 1 and 255 (0 stays free for nodata).
"""

from __future__ import annotations

import numpy as np

from .errors import GeoSslError
from .schema import PcaBasis

N_COMPONENTS = 3
PERCENTILES = (1.0, 99.0)
# Rows per matrix product: small enough that OpenBLAS runs it on the calling thread (m·n·k below its
# threading threshold of 262,144), so parallel heatmap workers do not oversubscribe the cores.
PROJECT_ROWS = 512


def fit_pca(embeddings: np.ndarray) -> PcaBasis:
    """Mean, the 3 leading components (sign fixed: largest loading positive) and 1-99 % ranges."""
    data = np.asarray(embeddings, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        raise GeoSslError(f"PCA needs at least 2 embeddings of shape (N, D), got {data.shape}")
    mean = data.mean(axis=0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    components = np.zeros((N_COMPONENTS, data.shape[1]))
    k = min(N_COMPONENTS, vt.shape[0])
    components[:k] = vt[:k]
    signs = np.sign(components[np.arange(N_COMPONENTS), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    projected = (data - mean) @ components.T
    low, high = np.percentile(projected, PERCENTILES, axis=0)
    return PcaBasis(mean=mean.tolist(), components=components.tolist(), low=low.tolist(), high=high.tolist())


class PcaColours:
    """Embeddings → RGB bytes through a :class:`PcaBasis`; the arrays are prepared once.

    ``__call__`` folds centring and byte scaling into the projection weights (a few large numpy
    operations per batch: it runs in the heatmap's worker threads)."""

    def __init__(self, basis: PcaBasis) -> None:
        weights = np.asarray(basis.components, dtype=np.float32).T
        offset = np.asarray(basis.mean, dtype=np.float32) @ weights  # score = embedding @ weights - offset
        low = np.asarray(basis.low, dtype=np.float32)
        span = np.asarray(basis.high, dtype=np.float32) - low
        scale = 254.0 / np.where(span > 0, span, 1.0)
        # byte = floor(clip((score - low) · scale, 0, 254) + 1.5): 1..255, rounded; 0 stays nodata
        self.byte_weights = np.ascontiguousarray(weights * scale)
        self.byte_shift = (offset + low) * scale - 1.5

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N, 3)`` uint8 colours: scores scaled linearly from [low, high] to 1..255 (clipped)."""
        scaled = _matmul(embeddings, self.byte_weights)
        scaled -= self.byte_shift
        return np.clip(scaled, 1.5, 255.5, out=scaled).astype(np.uint8)


def _matmul(embeddings: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``embeddings @ weights`` in row chunks of :data:`PROJECT_ROWS`."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    out = np.empty((len(embeddings), weights.shape[1]), dtype=np.float32)
    for start in range(0, len(embeddings), PROJECT_ROWS):
        np.matmul(embeddings[start:start + PROJECT_ROWS], weights, out=out[start:start + PROJECT_ROWS])
    return out
