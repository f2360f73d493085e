"""Image models run on raw Sentinel-2 patches with the extra inputs the plugin feeds them.

A model that takes a band mask (schema v3 ``spectral``, e.g. a head on Galileo or Presto) gets its
bands masked as at training (``spectral.masked_bands``: zeros in the image, 1 in ``band_mask``); one
that takes the acquisition month gets the plugin's default, July, since EuroSAT patches carry no
date; one that takes (lat, lon) gets the patch centres. EuroSAT's digital numbers are what the plugin
feeds a ``reflectance`` model for Sentinel-2 (no rescaling), and ``absolute`` models get raw values.
"""

from __future__ import annotations

import numpy as np

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import BAND_MASK_INPUT, LATLON_INPUT, MONTH_INPUT

#: The plugin's month when a layer has no date (``qgis_csp_plugin.core.acquisition_date.DEFAULT_MONTH``).
DEFAULT_MONTH = 7


def run_image_model(model: OnnxModel, pixels: np.ndarray, latlon: np.ndarray | None = None,
                    batch: int = 64) -> np.ndarray:
    """Outputs of ``model`` on ``(N, C, H, W)`` raw pixels in its band order, in batches."""
    meta = model.metadata
    names = meta.input_names
    pixels = np.asarray(pixels, np.float32)
    mask = None
    if BAND_MASK_INPUT in names:
        masked = meta.spectral.masked_bands if meta.spectral is not None else []
        mask = np.array([band in masked for band in meta.bands], np.float32)
        pixels = pixels * (1 - mask)[None, :, None, None]
    if LATLON_INPUT in names and latlon is None:
        raise ValueError(f"{meta.name} needs the (lat, lon) of each patch")
    months = np.full(len(pixels), DEFAULT_MONTH, np.int64) if MONTH_INPUT in names else None
    outputs = []
    for start in range(0, len(pixels), batch):
        rows = slice(start, start + batch)
        outputs.append(model.run(image=pixels[rows], band_mask=mask,
                                 latlon=latlon[rows] if LATLON_INPUT in names else None,
                                 month=months[rows] if months is not None else None))
    return np.concatenate(outputs)
