"""PCA of embeddings: leading directions, deterministic signs, byte scaling with 0 kept for nodata."""

import numpy as np
import pytest

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.pca import PcaColours, fit_pca


def component_scores(data, basis):
    """Principal-component scores, straight from the basis (float64)."""
    return (data - np.asarray(basis.mean)) @ np.asarray(basis.components).T


def test_recovers_the_leading_directions_in_order():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((5000, 3)) * [10.0, 5.0, 2.0]
    axes = np.linalg.qr(rng.standard_normal((8, 8)))[0][:3]
    data = 7.0 + scores @ axes + 0.01 * rng.standard_normal((5000, 8))
    basis = fit_pca(data)
    components = np.asarray(basis.components)
    np.testing.assert_allclose(np.abs(components @ axes.T), np.eye(3), atol=0.01)
    np.testing.assert_allclose(basis.mean, data.mean(axis=0))
    projected = component_scores(data, basis)
    assert projected.shape == (5000, 3)
    np.testing.assert_allclose(projected.std(axis=0), [10, 5, 2], rtol=0.05)
    assert np.all(np.asarray(basis.low) < 0) and np.all(np.asarray(basis.high) > 0)


def test_sign_is_fixed_so_the_basis_does_not_flip():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((500, 4)) * [4, 3, 2, 1]
    for basis in (fit_pca(data), fit_pca(-data)):
        components = np.asarray(basis.components)
        assert np.all(components[np.arange(3), np.abs(components).argmax(axis=1)] > 0)


def test_bytes_span_1_to_255_round_and_clip():
    data = np.random.default_rng(2).standard_normal((1000, 5))
    basis = fit_pca(data)
    colours = PcaColours(basis)
    pixels = colours(data)
    assert pixels.dtype == np.uint8 and pixels.min() == 1 and pixels.max() == 255
    span = np.asarray(basis.high) - basis.low
    expected = 1 + 254 * np.clip((component_scores(data, basis) - basis.low) / span, 0, 1)
    assert np.abs(pixels.astype(int) - np.floor(expected + 0.5)).max() <= 1  # float32 vs float64 rounding
    assert (pixels == np.floor(expected + 0.5)).mean() > 0.99
    components = np.asarray(basis.components)
    far = np.asarray(basis.mean) + 1e6 * components[0] - 1e6 * components[1]
    assert colours(far[None])[0, :2].tolist() == [255, 1]


def test_low_rank_and_constant_data_do_not_break():
    basis = fit_pca(np.ones((10, 2)) * [1.0, 2.0])
    assert np.asarray(basis.components).shape == (3, 2)
    assert set(PcaColours(basis)(np.ones((3, 2))).ravel()) <= set(range(1, 256))
    with pytest.raises(GeoSslError):
        fit_pca(np.ones((1, 4)))
