"""Fusion math and the few-label protocol (top-k, image head, location head, fused) on real EuroSAT."""

from __future__ import annotations

import numpy as np
from qgis_csp_plugin.core.probabilities import fuse
from trainer.data.features import band_statistics, crop_pixels, frozen_features, image_records
from trainer.data.splits import split_records
from trainer.tasks.few_label import FewLabelSetup, evaluate_ratio, markdown_table, summarise, topk_accuracy


def test_fusion_is_the_normalised_product():
    p_image = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], np.float32)
    p_location = np.array([[0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]], np.float32)
    fused = fuse(p_image, p_location)
    expected = p_image[0] * p_location[0] / (p_image[0] * p_location[0]).sum()
    assert np.allclose(fused[0], expected) and fused[0].argmax() == 1  # location flips the decision
    assert np.allclose(fused[1], p_image[1])  # a uniform prior changes nothing


def test_topk_accuracy():
    probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    assert topk_accuracy(probabilities, np.array([1, 2]), 1) == 0.5
    assert topk_accuracy(probabilities, np.array([1, 0]), 2) == 0.5


def test_few_label_protocol_on_real_eurosat():
    records = image_records("eurosat")
    parts = split_records(records, 0.2, 0.2, 0)
    pixels = crop_pixels(records, ["B02", "B03", "B04", "B08"], 64)
    features = frozen_features(pixels, *band_statistics(pixels), "resnet10t_w32").numpy()
    names = list(records.drop_duplicates("label").sort_values("label")["class_name"])
    setup = FewLabelSetup(encoder_params={"hidden_dim": 32, "out_dim": 16, "frequency_num": 8}, steps=20)
    rows = evaluate_ratio(parts["train"], parts["test"], dict(enumerate(features)), names, 0.05, 0, setup, None)
    assert [r["model"] for r in rows] == ["image only", "location only (random init)", "fused (random init)"]
    assert all(r["n_train"] == 10 for r in rows)  # 5 % of 12 per class rounds to 1 per class
    assert all(0 <= r["top1"] <= r["top3"] <= 1 for r in rows)
    assert rows[0]["top3"] > 0.3  # frozen random features beat chance (10 classes: top-3 0.3)
    table = markdown_table(summarise(rows))
    assert "| 5 % | 10 | image only |" in table
