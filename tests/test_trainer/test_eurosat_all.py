"""The labelled EuroSAT sources: ``eurosat`` (200 shipped patches) and ``eurosat_all`` (+ the shared extra
patches, or the shipped ones with a note in a clone without ../shared); k-fold splits of the image data."""

import pandas as pd
import pytest

from trainer.data import catalog
from trainer.data.image_datamodule import ImageDataModule
from trainer.data.points import point_records

EXTRA = catalog.SHARED_DATA_ROOT / "eurosat_ms_extra" / "index.csv"
needs_shared = pytest.mark.skipif(not EXTRA.is_file(), reason=f"needs the team's shared data ({EXTRA})")


@needs_shared
def test_eurosat_all_adds_the_distinct_extra_patches():
    shipped, every = catalog.eurosat_source_records("eurosat"), catalog.eurosat_source_records("eurosat_all")
    index = pd.read_csv(EXTRA)
    assert len(index) == 270 and len(every) == len(shipped) + 269 == 469  # one extra file duplicates a shipped one
    assert every["image_path"].is_unique and set(shipped["image_path"]) < set(every["image_path"])
    assert sorted(every["class_name"].unique()) == list(catalog.EUROSAT_CLASSES)
    assert every.groupby("class_name").size().min() >= 40
    assert (every["label"] == every["class_name"].map(catalog.EUROSAT_CLASSES.index)).all()
    points = point_records("eurosat_all")  # the location prior's points: the same patches, same labels
    assert points[["lat", "lon", "label"]].equals(every[["lat", "lon", "label"]])


def test_eurosat_all_without_the_shared_folder_is_the_shipped_data_and_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(catalog, "SHARED_DATA_ROOT", tmp_path)
    records = catalog.eurosat_source_records("eurosat_all")
    assert len(records) == 200
    assert "eurosat_all = the 200 EuroSAT patches shipped in data/" in capsys.readouterr().err


def test_image_folds_test_every_patch_once():
    tested = set()
    for fold in range(2):
        data = ImageDataModule(sources=["eurosat"], bands=["red"], folds=2, fold=fold)
        data.setup("fit")
        assert {split: len(data.datasets[split]) for split in ("train", "val", "test")} == \
            {"train": 60, "val": 40, "test": 100}
        tested |= {tuple(p) for p in data.datasets["test"].latlon.tolist()}
    assert len(tested) == 200
