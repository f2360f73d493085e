"""Seeded stratified splits and few-label subsets (trainer.data.splits) on real labelled points."""

from __future__ import annotations

import pytest

from trainer.data.csp_datamodule import source_records
from trainer.data.points import point_records
from trainer.data.sources import image_records
from trainer.data.splits import evaluation_split, fold_split, label_subset, split_records
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


def test_folds_test_every_record_once_stratified_and_seeded():
    records = image_records("eurosat")  # 200 real patches, 20 per class
    folds = [fold_split(records, 5, k, 0.2, seed=0) for k in range(5)]
    tested = [i for parts in folds for i in parts["test"].index]
    assert sorted(tested) == list(records.index)  # every patch in exactly one test fold
    for parts in folds:
        assert [len(parts[s]) for s in ("train", "val", "test")] == [120, 40, 40]
        train, val, test = (set(parts[s].index) for s in ("train", "val", "test"))
        assert not (train & val or train & test or val & test)
        assert parts["test"]["label"].value_counts().eq(4).all()  # stratified: 4 of each class
    assert fold_split(records, 5, 2, seed=0)["val"].index.equals(folds[2]["val"].index)
    assert not fold_split(records, 5, 2, seed=1)["test"].index.equals(folds[2]["test"].index)
    assert evaluation_split(records, 0.2, 0.2, 0, folds=5, fold=3)["test"].index.equals(folds[3]["test"].index)
    plain = split_records(records, 0.2, 0.2, 0)["test"].index
    assert evaluation_split(records, 0.2, 0.2, 0)["test"].index.equals(plain)


def test_csp_pretraining_records_leave_the_test_fold_out():
    test = fold_split(image_records("eurosat"), 5, 1, seed=0)["test"]
    records = source_records(["eurosat"], [], 0, 0.2, 0.2, eval_folds=5, eval_fold=1)
    kept = records[~records["heldout"]]
    assert len(kept) == 160 and not set(kept["image_path"]) & set(test["image_path"])
    assert set(records.loc[records["heldout"], "image_path"]) == set(test["image_path"])


@pytest.mark.parametrize("folds, fold, val, message", [(1, 0, 0.2, "need folds >= 2"), (5, 5, 0.2, "0 <= fold"),
                                                       (5, 0, 0.8, "val_fraction 0.8")])
def test_bad_folds_name_the_value(folds, fold, val, message):
    with pytest.raises(TrainerError, match=message):
        fold_split(image_records("eurosat"), folds, fold, val)
