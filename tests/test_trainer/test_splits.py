"""Seeded stratified splits and few-label subsets (trainer.data.splits) on real labelled points."""

from __future__ import annotations

import pytest

from trainer.data.points import point_records
from trainer.data.splits import label_subset, split_records
from trainer.errors import TrainerError


@pytest.fixture(scope="module")
def cities():
    return point_records("cities", "continent")


def test_split_is_disjoint_stratified_and_seeded(cities):
    parts = split_records(cities, 0.2, 0.2, seed=3)
    indices = [set(p.index) for p in parts.values()]
    assert sum(map(len, indices)) == len(cities) and not (indices[0] & indices[1] or indices[1] & indices[2])
    overall = cities["label"].value_counts(normalize=True)
    for part in parts.values():
        share = part["label"].value_counts(normalize=True)
        assert (share - overall).abs().max() < 0.01
    assert parts["test"].index.equals(split_records(cities, 0.2, 0.2, seed=3)["test"].index)
    assert not parts["test"].index.equals(split_records(cities, 0.2, 0.2, seed=4)["test"].index)


@pytest.mark.parametrize("ratio", [0.05, 0.1, 0.2])
def test_label_subset_keeps_ratio_per_class_at_least_one(cities, ratio):
    train = split_records(cities, 0.2, 0.2, seed=0)["train"]
    subset = label_subset(train, ratio, seed=0)
    assert set(subset.index) <= set(train.index)
    for label, group in train.groupby("label"):
        assert (subset["label"] == label).sum() == max(1, round(len(group) * ratio))
    assert label_subset(train, ratio, seed=0).index.equals(subset.index)
    assert label_subset(train, 1.0, seed=0) is train


def test_tiny_class_still_gets_one_label():
    records = point_records("cities", "continent")
    rare = records[records["class_name"] != "AN"].groupby("label").head(20)  # 5 % of 12 train rows -> 1
    subset = label_subset(split_records(rare, 0.2, 0.2, 0)["train"], 0.05, 0)
    assert subset["label"].value_counts().eq(1).all() and subset["label"].nunique() == rare["label"].nunique()


@pytest.mark.parametrize("kwargs, message", [({"val_fraction": 0.6, "test_fraction": 0.5}, "sum below 1"),
                                             ({"test_fraction": 0.0}, "test_fraction 0.0")])
def test_bad_fractions_name_the_value(cities, kwargs, message):
    with pytest.raises(TrainerError, match=message):
        split_records(cities, **kwargs)


def test_bad_label_ratio(cities):
    with pytest.raises(TrainerError, match="label_ratio 0"):
        label_subset(cities, 0.0)
