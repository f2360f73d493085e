"""Tiny record CSVs over the real EuroSAT patches, shared by the MoCo and classifier tests."""

from __future__ import annotations

from pathlib import Path

from trainer.data.sources import eurosat_records


def eurosat_csv(folder: Path, n: int = 16, **columns) -> Path:
    """A CSV of the first ``n`` EuroSAT patches (one per class in turn), no labels: all training data."""
    records = eurosat_records()
    records = records.groupby("label").head(2).sort_values(["label"]).head(n).reset_index(drop=True)
    frame = records[["image_path", "lat", "lon"]].copy()
    for name, values in columns.items():
        frame[name] = values
    path = folder / "records.csv"
    frame.to_csv(path, index=False)
    return path


def two_date_csv(folder: Path, n_locations: int = 8) -> Path:
    """Two dates per ``location_id``: each location pairs two real EuroSAT files of one class."""
    records = eurosat_records().groupby("label").head(2).head(2 * n_locations).reset_index(drop=True)
    frame = records[["image_path", "lat", "lon"]].copy()
    frame["location_id"] = [f"loc{i // 2}" for i in range(len(frame))]
    frame["timestamp"] = ["2020-05-01" if i % 2 == 0 else "2021-07-15" for i in range(len(frame))]
    path = folder / "two_dates.csv"
    frame.to_csv(path, index=False)
    return path
