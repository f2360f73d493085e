"""The trainer's one split policy, by place, and few-label subsets (trainer.data.splits) on real labelled
points and patches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from trainer.data.csp_datamodule import source_records
from trainer.data.points import point_records
from trainer.data.registry import image_records
from trainer.data.splits import evaluation_split, fold_split, label_subset, random_places, split_records
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


@pytest.fixture(scope="module")
def multi_date_table(tmp_path_factory):
    """60 real EuroSAT patches of 3 classes as 30 places of 2 dates each (one ``location_id``, one class; each
    date keeps its own file's coordinates), in a CSV table."""
    records = image_records("eurosat")
    frame = records[records["label"] < 3].groupby("label").head(20).sort_values("label").reset_index(drop=True)
    frame = frame[["image_path", "lat", "lon", "class_name"]]
    frame["location_id"] = [f"place{i // 2}" for i in range(len(frame))]
    frame["timestamp"] = ["2019-06-01" if i % 2 == 0 else "2021-06-01" for i in range(len(frame))]
    path = tmp_path_factory.mktemp("places") / "multi_date.csv"
    frame.rename(columns={"class_name": "label"}).to_csv(path, index=False)
    return path


def _sides(place_of: dict, parts: dict) -> pd.Series:
    """How many splits each place's records landed in."""
    located = pd.DataFrame([(place_of[key], name) for name, keys in parts.items() for key in keys],
                           columns=["place", "split"])
    return located.groupby("place")["split"].nunique()


def test_the_dates_of_one_place_never_land_on_both_sides_when_read_from_files(multi_date_table):
    """The one policy, by place, in every reader of files: the image data module (one split and folds), the CSP
    data's held-out test split and location priors' points. The per-record split the image data used before
    would have put both dates of some places on both sides."""
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.data.points import PointsDataModule

    table = pd.read_csv(multi_date_table)
    place_of = dict(zip(table["image_path"], table["location_id"], strict=True))
    for folds, fold in ((0, 0), (5, 2)):
        data = ImageDataModule(sources=[str(multi_date_table)], bands=["B02", "B03", "B04"], tile_size=64,
                               folds=folds, fold=fold)
        data.setup()
        parts = {name: set(dataset.paths) for name, dataset in data.datasets.items()}
        assert _sides(place_of, parts).eq(1).all() and len(parts["test"]) == 12
    held = source_records([str(multi_date_table)], ["B02", "B03", "B04"], 0, 0.2, 0.2)
    assert held.groupby("location_id")["heldout"].nunique().eq(1).all() and held["heldout"].sum() == 12
    points = PointsDataModule(source=str(multi_date_table)).splits
    assert _sides(dict(zip(table.index, table["location_id"], strict=True)),
                  {name: part.index for name, part in points.items()}).eq(1).all()
    rest, test = train_test_split(table, test_size=0.2, random_state=0, stratify=table["label"])
    assert set(rest["location_id"]) & set(test["location_id"])  # per record, places straddle the split


def test_records_at_identical_coordinates_are_one_place(cities):
    """Without a location_id, a place is its exact (lat, lon): GeoNames has 8 cities that share coordinates."""
    shared = cities[cities.duplicated(["lat", "lon"], keep=False)]
    assert len(shared) == 8
    parts = split_records(cities, 0.2, 0.2, seed=0)
    where = pd.concat([part.assign(split=name) for name, part in parts.items()])
    assert where.loc[shared.index].groupby(["lat", "lon"])["split"].nunique().eq(1).all()
    assert sum(map(len, parts.values())) == len(cities)


def test_places_of_single_records_split_as_records_did():
    """EuroSAT (every patch its own place): the plain stratified split of the same seed, order included."""
    records = image_records("eurosat")
    rest, test = train_test_split(records, test_size=0.2, random_state=0, stratify=records["label"])
    assert split_records(records, 0.2, 0.2, 0)["test"].index.equals(test.index)


def test_random_places_draw_whole_places(multi_date_table):
    """The CSP validation pairs: a seeded random fraction of the places, labels aside."""
    table = pd.read_csv(multi_date_table)
    rest, part = random_places(table, 0.2, seed=0)
    assert len(part) == 2 * round(30 * 0.2) and not set(table["location_id"].iloc[rest]) & set(
        table["location_id"].iloc[part])
    assert np.array_equal(random_places(table, 0.2, seed=0)[1], part)
