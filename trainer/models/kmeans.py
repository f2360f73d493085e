"""K-means of (lat, lon) on the sphere: clusters of 3-D unit vectors, so the dateline is no edge."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans

from qgis_csp_plugin.contract.latlon import validate_latlon
from trainer.errors import TrainerError


def latlon_to_xyz(latlon: np.ndarray | torch.Tensor):
    """(N, 2) (lat, lon) degrees → (N, 3) unit vectors (numpy or torch, same type out)."""
    lib = torch if isinstance(latlon, torch.Tensor) else np
    rad = latlon * (np.pi / 180.0)
    lat, lon = rad[:, 0], rad[:, 1]
    return lib.stack([lib.cos(lat) * lib.cos(lon), lib.cos(lat) * lib.sin(lon), lib.sin(lat)], 1)


def spherical_kmeans(latlon, k: int, seed: int = 0) -> np.ndarray:
    """Cluster centres ``(k, 3)`` (unit vectors): k-means on unit vectors, centres renormalised."""
    try:
        points = latlon_to_xyz(validate_latlon(latlon, "training coordinates").astype(np.float64))
    except ValueError as exc:
        raise TrainerError(f"cannot cluster locations: {exc}") from exc
    distinct = len(np.unique(points.round(6), axis=0))
    if not 1 <= k <= distinct:
        raise TrainerError(f"geo_clusters={k} must be between 1 and the number of distinct training "
                           f"locations ({distinct})")
    centres = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(points).cluster_centers_
    return (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)


def assign_clusters(latlon: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre (largest cosine) for each (lat, lon) row."""
    return (latlon_to_xyz(latlon.to(centres.dtype)) @ centres.t()).argmax(dim=1)
