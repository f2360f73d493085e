"""Fusion math and the few-label protocol (top-k, image head, location head, fused) on real EuroSAT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qgis_csp_plugin.contract.probabilities import fuse
from trainer.cli import main
from trainer.data.band_statistics import band_statistics
from trainer.data.registry import image_records
from trainer.data.splits import split_records
from trainer.data.tiles import crop_pixels
from trainer.evaluation.few_label import FewLabelSetup, evaluate_ratio, topk_accuracy
from trainer.evaluation.report import (
    markdown_differences,
    markdown_table,
    paired_differences,
    pooled_per_seed,
    summarise,
)
from trainer.models.frozen import frozen_features

REPO = Path(__file__).resolve().parents[2]


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
    setup = FewLabelSetup(encoder_params={"hidden_dim": 32, "out_dim": 16, "frequency_num": 8}, steps=20,
                          losses=("softmax", "presence_only"))
    evaluated = {"val": parts["val"], "test": parts["test"]}
    rows = evaluate_ratio(parts["train"], evaluated, dict(enumerate(features)), names, 0.05, 0, setup, None)
    models = ["image only", "location only (1-NN)", "location only (k-NN, k on val)",
              "location only (random init, softmax)", "fused (random init, softmax)",
              "location only (random init, presence-only)", "fused (random init, presence-only)"]
    assert [(r["split"], r["model"]) for r in rows] == [(s, m) for s in ("val", "test") for m in models]
    assert all(r["n_train"] == 10 and r["n_eval"] == 40 for r in rows)  # 5 % of 12 per class rounds to 1
    assert all(0 <= r["top1"] <= r["top3"] <= 1 for r in rows)
    assert rows[7]["top3"] > 0.3  # test split: frozen random features beat chance (10 classes: top-3 0.3)
    assert rows[8]["model"] == "location only (1-NN)" and 0 <= rows[8]["top1"] <= 1
    table = markdown_table(summarise(rows))
    assert "| 5 % | 10 | image only |" in table and "| fused (random init, presence-only) |" in table


def _row(fold, seed, model, top1, n_eval=10):
    return {"fold": fold, "ratio": 0.05, "seed": seed, "n_train": 10, "split": "test", "n_eval": n_eval,
            "model": model, "prior_exponent": float("nan"), "top1": top1, "top3": top1}


def test_folds_are_pooled_per_seed_and_compared_in_pairs():
    rows = [_row(0, 0, "image only", 0.5), _row(1, 0, "image only", 0.2, n_eval=30),
            _row(0, 0, "fused (CSP, softmax)", 0.6), _row(1, 0, "fused (CSP, softmax)", 0.3, n_eval=30),
            _row(0, 1, "image only", 0.4, 40), _row(0, 1, "fused (CSP, softmax)", 0.35, 40),
            {**_row(0, 0, "image only", 1.0), "split": "val"}]
    pooled = pooled_per_seed(rows).set_index(["model", "seed"])
    assert pooled.loc[("image only", 0), "top1"] == pytest.approx((5 + 6) / 40)  # weighted by patches
    assert pooled.loc[("image only", 0), "n_eval"] == 40
    summary = summarise(rows).set_index("model")
    assert summary.loc["image only", "top1"] == pytest.approx((11 / 40 + 0.4) / 2)
    diff = paired_differences(rows).iloc[0]
    assert diff["comparison"] == "fused (CSP, softmax) − image only"
    assert diff["top1"] == pytest.approx((0.1 - 0.05) / 2) and (diff["better"], diff["worse"]) == (1, 1)
    assert "| 5 % | fused (CSP, softmax) − image only | +2.5 ± 10.6 |" in markdown_differences(paired_differences(rows))


def test_evaluate_cross_validation_pretrains_csp_per_fold(tmp_path):
    out = tmp_path / "cv"
    csp_args = "--trainer.max_epochs 1 --model.encoder_params '{hidden_dim: 16, out_dim: 8, frequency_num: 4}'"
    assert main(["evaluate", "--folds", "2", "--csp_config", str(REPO / "trainer/configs/csp_eurosat.yaml"),
                 "--csp_args", csp_args, "--prior_losses", "presence_only", "--ratios", "0.05", "--seeds", "0",
                 "--steps", "3", "--bands", "B02", "B03", "B04", "--runs_dir", str(tmp_path / "runs"),
                 "--out", str(out)]) == 0
    assert all((tmp_path / "runs" / f"fold{k}" / "last.ckpt").is_file() for k in range(2))
    import pandas as pd

    rows = pd.read_csv(out.with_suffix(".csv"))
    test = rows[(rows["split"] == "test") & (rows["model"] == "image only")]
    assert sorted(test["fold"]) == [0, 1] and test["n_eval"].sum() == 200  # every patch tested once
    assert set(rows["model"]) == {"image only", "location only (1-NN)", "location only (k-NN, k on val)",
                                  *(f"{what} ({init}, presence-only{tempered})"
                                                  for init in ("random init", "CSP")
                                                  for what, tempered in (("location only", ""), ("fused", ""),
                                                                         ("fused", ", α on val")))}
    chosen = rows.loc[rows["model"].str.contains("α on val"), "prior_exponent"]
    assert len(chosen) and chosen.isin([0.0, 0.25, 0.5, 1.0]).all()  # the default candidates
    text = out.with_suffix(".md").read_text()
    assert "2-fold cross-validation, every patch tested once: 200 test patches" in text
    assert "--folds 2" in text and "fused (CSP, presence-only) − image only" in text


def test_evaluate_refuses_one_csp_checkpoint_for_all_folds(capsys):
    assert main(["evaluate", "--folds", "5", "--csp_checkpoint", "some.ckpt"]) == 2
    assert "--folds needs --csp_config" in capsys.readouterr().err
