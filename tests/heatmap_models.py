"""Heatmap test inputs: the factory's tiny encoder exported with a PCA basis, and a Classify result.

The basis is fitted with the plugin's own :func:`~qgis_csp_plugin.contract.pca.fit_pca` on the
encoder's embeddings of a global 2-degree grid, as the trainer would at export time. The Classify
result is written by the classify feature's own writer (needs a running QGIS).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from model_factory import CLASSES, TinyLocationNet

from qgis_csp_plugin.contract.pca import fit_pca
from qgis_csp_plugin.contract.schema import ModelMetadata
from qgis_csp_plugin.core.classify import TileResults
from qgis_csp_plugin.core.tiling import TileGrid
from trainer.export.onnx_writer import export_onnx
from trainer.export.spec import ExportSpec

DIM = 16


def global_latlon(step: float = 2.0) -> np.ndarray:
    lat, lon = np.meshgrid(np.arange(-89, 90, step), np.arange(-179, 180, step), indexing="ij")
    return np.stack([lat.ravel(), lon.ravel()], axis=1).astype(np.float32)


def export_encoder_with_pca(path: Path) -> Path:
    torch.manual_seed(1)
    module = TinyLocationNet(DIM, softmax=False).eval()
    with torch.no_grad():
        embeddings = module(torch.from_numpy(global_latlon())).numpy()
    meta = ModelMetadata(kind="location_encoder", name=path.stem, location_encoder={"name": "xyz", "params": {}},
                         embedding_dim=DIM, pca_basis=fit_pca(embeddings))
    export_onnx(ExportSpec(module, (torch.zeros(2, 2),), ("latlon",), "embedding", meta), path)
    return path


def write_classified_tiles(path: Path) -> TileResults:
    """A "Classify layer" GeoPackage of 6 x 4 tiles of 320 m in UTM 33N; tiles 4 and 13 are skipped."""
    from qgis.core import QgsCoordinateReferenceSystem

    from qgis_csp_plugin.qgis_io.layers import write_tile_vector

    grid = TileGrid(500_000.0, 5_000_000.0, 10.0, 10.0, 32, 32, 6, 4)
    probabilities = np.random.default_rng(3).dirichlet(np.ones(len(CLASSES)), grid.n_tiles).astype(np.float32)
    valid = np.ones(grid.n_tiles, np.float32)
    valid[[4, 13]] = 0
    probabilities[valid == 0] = np.nan
    results = TileResults(grid, list(CLASSES), np.arange(grid.n_tiles), probabilities, valid)
    write_tile_vector(path, results, QgsCoordinateReferenceSystem("EPSG:32633"))
    return results
