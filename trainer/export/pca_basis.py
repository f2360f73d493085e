"""Export helpers shared by the location tasks: a global PCA basis of location embeddings."""

from __future__ import annotations

import torch
from torch import nn

from qgis_csp_plugin.contract.pca import fit_pca
from qgis_csp_plugin.contract.schema import PcaBasis


def global_grid(step_deg: float = 2.0) -> torch.Tensor:
    """``(N, 2)`` (lat, lon) degrees: cell centres of a regular global grid."""
    lats = torch.arange(-90 + step_deg / 2, 90, step_deg)
    lons = torch.arange(-180 + step_deg / 2, 180, step_deg)
    return torch.cartesian_prod(lats, lons).float()


@torch.no_grad()
def global_pca_basis(encoder: nn.Module, step_deg: float = 2.0) -> PcaBasis:
    """3-component PCA (:func:`qgis_csp_plugin.contract.pca.fit_pca`) of ``encoder`` over a global grid.

    ``encoder`` maps ``(N, 2)`` (lat, lon) degrees to embeddings; it is evaluated in eval mode.
    """
    was_training = encoder.training
    encoder.eval()
    embeddings = torch.cat([encoder(chunk) for chunk in global_grid(step_deg).split(4096)])
    encoder.train(was_training)
    return fit_pca(embeddings.numpy())
