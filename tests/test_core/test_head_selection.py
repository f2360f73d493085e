"""The choice of a few-label head's features and C (``core/head_selection.py``) on real EuroSAT tiles: the
statistics and embeddings (the shipped Galileo nano encoder, onnxruntime) of 100 real patches. Uninformative
features are made from the real ones by shuffling their rows across patches: the values stay real,
their link to the class is gone. (A randomly initialised encoder is no such control: its pooled
features still carry each band's level, docs/results/few_label_mapping.md.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.core.head_selection import Candidate, choose, select_head
from qgis_csp_plugin.core.logistic_regression import cross_validate_path, group_folds
from qgis_csp_plugin.core.progress import Canceled
from qgis_csp_plugin.core.tile_features import (
    STATISTIC_BLOCKS,
    feature_blocks,
    feature_matrix,
    feature_weights,
    tile_statistics,
)
from trainer.data.bands import EUROSAT_BANDS

REPO = Path(__file__).resolve().parents[2]
PER_CLASS = 10
FOLDS = 3


@pytest.fixture(scope="module")
def real() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Feature blocks of 10 real patches per EuroSAT class, and their class ids."""
    folders = sorted(p for p in (REPO / "data" / "eurosat_ms").iterdir() if p.is_dir())
    images, labels = [], []
    for label, folder in enumerate(folders):
        for i in range(1, PER_CLASS + 1):
            with rasterio.open(folder / f"{folder.name}_{i}.tif") as src:
                images.append(src.read().astype(np.float32))
            labels.append(label)
    tiles = np.stack(images)
    encoder = OnnxModel.load(REPO / "models" / "galileo_nano_encoder.onnx")
    bands = encoder.metadata.bands
    embedding = encoder.run(image=tiles[:, [EUROSAT_BANDS.index(b) for b in bands]],
                            band_mask=np.zeros(len(bands)), month=np.full(len(tiles), 7))
    return {"embedding": embedding, **tile_statistics(tiles)}, np.array(labels)


def shuffled(blocks: dict[str, np.ndarray], names: tuple[str, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """``blocks`` with the rows of ``names`` permuted together (real values, no link to the class)."""
    order = np.random.default_rng(seed).permutation(len(next(iter(blocks.values()))))
    return {name: block[order] if name in names else block for name, block in blocks.items()}


def select(blocks: dict[str, np.ndarray], y: np.ndarray, **options):
    return select_head(blocks, STATISTIC_BLOCKS, y, 10, np.arange(len(y)), FOLDS, **options)


def scores(selection) -> dict[str, float]:
    """The best CV accuracy of each feature set."""
    return {c.features: max(d.accuracy for d in selection.candidates if d.features == c.features)
            for c in selection.candidates}


def test_statistics_are_chosen_when_the_embedding_is_noise(real):
    blocks, y = real
    selection = select(shuffled(blocks, ("embedding",)), y)
    best = scores(selection)
    assert selection.chosen.features == "statistics"
    assert best["embedding"] < 0.25 < 0.5 < best["statistics"]  # chance 0.1
    assert len(selection.candidates) == 12 and selection.nested


def test_the_embedding_is_chosen_when_the_statistics_are_uninformative(real):
    blocks, y = real
    selection = select(shuffled(blocks, STATISTIC_BLOCKS), y)
    best = scores(selection)
    assert selection.chosen.features == "embedding"
    assert best["statistics"] < 0.25 < 0.4 < best["embedding"]


def test_the_nested_estimate_is_honest_where_the_best_candidate_is_lucky(real):
    """Every feature shuffled: the best of 12 candidates' CV accuracy is above chance by luck; the nested
    estimate, which repeats the choice inside each fold, is not."""
    blocks, y = real
    selection = select(shuffled(blocks, tuple(blocks)), y)
    nested = float(np.mean(selection.predicted == y))
    assert nested < selection.chosen.accuracy and nested < 0.2


def test_one_candidate_is_plain_cross_validation(real):
    blocks, y = real
    selection = select(blocks, y, feature_sets=("embedding+statistics",), c_grid=(0.1,))
    assert not selection.nested and len(selection.candidates) == 1
    names = feature_blocks("embedding+statistics", STATISTIC_BLOCKS)
    expected = cross_validate_path(feature_matrix(blocks, names), y, 10, group_folds(y, np.arange(len(y)), FOLDS),
                                   [0.1], feature_weight=feature_weights(blocks, names))[0].argmax(axis=1)
    assert (selection.predicted == expected).all()
    assert selection.chosen.accuracy == pytest.approx(np.mean(expected == y))


def test_embedding_and_statistics_carry_the_same_total_variance(real):
    blocks, _ = real
    names = feature_blocks("embedding+statistics", STATISTIC_BLOCKS)
    weight = feature_weights(blocks, names)
    assert weight.shape == (128 + 39,)  # Galileo's 128 numbers, then mean, std and centre of 13 bands
    assert (weight[:128] ** 2).sum() == pytest.approx((weight[128:] ** 2).sum()) == pytest.approx(167 / 2)
    assert (feature_weights(blocks, STATISTIC_BLOCKS) == 1).all()
    assert (feature_weights(blocks, ("embedding",)) == 1).all()


def test_progress_and_cancel(real):
    blocks, y = real
    seen = []
    select(blocks, y, feature_sets=("statistics",), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 100.0 and len(seen) == 4 * FOLDS * (1 + FOLDS) + FOLDS
    with pytest.raises(Canceled):
        select(blocks, y, canceled=lambda: len(seen) > 0)


def test_ties_go_to_the_lower_log_loss_then_the_earlier_candidate():
    a, b, c = Candidate("statistics", 1.0, 0.8, 0.7), Candidate("embedding", 1.0, 0.8, 0.5), \
        Candidate("embedding", 10.0, 0.8, 0.5)
    assert choose([a, b, c]) is b and choose([c, b]) is c and choose([a, Candidate("x", 1, 0.79, 0.1)]) is a
