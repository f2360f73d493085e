"""Sources that lack some of a model's bands (``missing_bands: fill``), on real data: SSL4EO L2A
(12 bands, no B10) mixed with EuroSAT L1C (13 bands) for a 13-band model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgis_csp_plugin.contract.bands import S2_BANDS
from trainer.data.bands import MISSING, band_indices
from trainer.data.image_datamodule import ImageDataModule
from trainer.data.rasters import read_image
from trainer.errors import TrainerError

B10 = S2_BANDS.index("B10")


def test_band_indices_mark_absent_bands_only_when_filling():
    assert band_indices(("red", "green", "nir"), ["B03", "B10", "B04"], fill_missing=True) == [1, MISSING, 0]
    with pytest.raises(TrainerError, match="band 'B10' is not in this product's bands"):
        band_indices(("red", "green", "nir"), ["B03", "B10"])
    with pytest.raises(TrainerError, match="none of the bands"):
        band_indices(("red", "green"), ["B10", "B11"], fill_missing=True)


def test_a_source_without_a_band_reads_it_as_the_training_mean_of_the_sources_that_have_it():
    mixed = ImageDataModule(sources=["eurosat", "ssl4eo"], bands=list(S2_BANDS), missing_bands="fill")
    mixed.setup("fit")
    eurosat = ImageDataModule(sources=["eurosat"], bands=list(S2_BANDS))
    eurosat.setup("fit")
    # statistics from the tiles holding every band (the EuroSAT training patches), not from the fill
    np.testing.assert_allclose(mixed.band_mean, eurosat.band_mean)
    np.testing.assert_allclose(mixed.band_std, eurosat.band_std)
    train = mixed.datasets["train"]
    ssl4eo = next(i for i, path in enumerate(train.paths) if "ssl4eo" in path)
    image = train[ssl4eo]["image"]
    standardised = (image - torch.tensor(mixed.band_mean)[:, None, None]) / torch.tensor(mixed.band_std)[:, None, None]
    assert torch.allclose(standardised[B10], torch.zeros_like(standardised[B10]), atol=1e-5)  # filled: 0
    y, x = train.offsets[ssl4eo]
    real = read_image(train.paths[ssl4eo])[:, y:y + 64, x:x + 64]  # SSL4EO L2A order: B8A 9th, no B10
    assert torch.equal(image[S2_BANDS.index("B8A")], torch.from_numpy(real[8]))
    assert torch.equal(image[S2_BANDS.index("B11")], torch.from_numpy(real[10]))
    eurosat_tile = next(i for i, path in enumerate(train.paths) if "eurosat" in path)
    assert train[eurosat_tile]["image"][B10].std() > 0  # a source with the band reads it


def test_missing_bands_are_an_error_by_default_and_need_one_complete_source():
    with pytest.raises(TrainerError, match="band 'B10' is not in this product's bands"):
        ImageDataModule(sources=["ssl4eo"], bands=list(S2_BANDS)).setup("fit")
    with pytest.raises(TrainerError, match="no training source holds all of the bands"):
        ImageDataModule(sources=["ssl4eo"], bands=list(S2_BANDS), missing_bands="fill").setup("fit")
    with pytest.raises(TrainerError, match="missing_bands 'zero' is not one of error, fill"):
        ImageDataModule(missing_bands="zero")
