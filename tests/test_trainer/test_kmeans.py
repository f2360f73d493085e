"""Spherical K-means of (lat, lon): unit vectors, so the dateline is not an edge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.errors import TrainerError
from trainer.models.kmeans import assign_clusters, latlon_to_xyz, spherical_kmeans


def _groups(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    east = np.column_stack([rng.uniform(-1, 1, 20), 179.9 - rng.uniform(0, 0.5, 20)])
    west = np.column_stack([rng.uniform(-1, 1, 20), -179.9 + rng.uniform(0, 0.5, 20)])
    greenwich = np.column_stack([rng.uniform(40, 42, 20), rng.uniform(-1, 1, 20)])
    return east, west, greenwich


def test_points_either_side_of_the_dateline_share_a_cluster():
    east, west, greenwich = _groups(np.random.default_rng(0))
    centres = torch.from_numpy(spherical_kmeans(np.vstack([east, west, greenwich]), k=2))
    assert torch.allclose(centres.norm(dim=1), torch.ones(2), atol=1e-5)
    labels = assign_clusters(torch.tensor([[0.0, 179.9], [0.0, -179.9], [41.0, 0.0]]), centres)
    assert labels[0] == labels[1] != labels[2]
    # raw-degree clustering would split the dateline group: the centre is near lon 180, not 0
    lon = np.degrees(np.arctan2(centres[labels[0], 1], centres[labels[0], 0]))
    assert abs(abs(lon) - 180) < 1


def test_assignment_matches_nearest_centre_on_the_sphere():
    rng = np.random.default_rng(1)
    latlon = np.column_stack([rng.uniform(-80, 80, 200), rng.uniform(-180, 180, 200)]).astype(np.float32)
    centres = spherical_kmeans(latlon, k=5, seed=3)
    labels = assign_clusters(torch.from_numpy(latlon), torch.from_numpy(centres)).numpy()
    expected = np.argmax(latlon_to_xyz(latlon.astype(np.float64)) @ centres.T.astype(np.float64), axis=1)
    assert (labels == expected).all()
    assert len(np.unique(labels)) == 5


@pytest.mark.parametrize("latlon, k, message", [
    ([[10.0, np.nan], [11.0, 12.0]], 1, "not finite"),
    ([[95.0, 10.0], [11.0, 12.0]], 1, "latitude 95"),
    ([[10.0, 10.0], [10.0, 10.0], [11.0, 12.0]], 3, "distinct training locations \\(2\\)"),
])
def test_bad_coordinates_or_k_give_clear_errors(latlon, k, message):
    with pytest.raises(TrainerError, match=message):
        spherical_kmeans(np.array(latlon), k)
