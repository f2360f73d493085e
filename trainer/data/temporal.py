"""Temporal positives: for each image, the other-date images of the same place (``location_id``;
records without one, e.g. of a single-date source mixed in, are single-date places)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from trainer.errors import TrainerError


class TemporalPairs:
    """Candidate key images per record: same ``location_id`` (and same values in ``same``), different
    ``timestamp``.

    ``same`` names further columns a pair must share, e.g. the pixel offset of a tile cut from a
    larger image, so that a tile pairs with the same ground area at the other date. A record with no
    other date pairs with itself (the key is then a second augmentation of the same image: the
    documented fallback of Ayush et al.). ``strict=True`` turns data with no multi-date location at
    all into an error instead.
    """

    def __init__(self, records: pd.DataFrame, strict: bool = False, same: tuple[str, ...] = ()) -> None:
        self.partners = _partners(records, ["location_id", *same])
        self.n_multi_date = sum(len(p) > 0 for p in self.partners)
        if strict and self.n_multi_date == 0:
            raise TrainerError("temporal positives were requested (temporal_fallback=false) but no "
                               "location_id has images from two dates")

    def __len__(self) -> int:
        return len(self.partners)

    def sample(self, index: int, generator: torch.Generator | None = None) -> int:
        """A random other-date record of the same location, or ``index`` itself (torch RNG)."""
        partners = self.partners[index]
        if not len(partners):
            return index
        return int(partners[int(torch.randint(len(partners), (1,), generator=generator))])


def _partners(records: pd.DataFrame, place: list[str]) -> list[np.ndarray]:
    if "location_id" not in records:  # every image is its own location, single date
        return [np.empty(0, dtype=np.int64) for _ in range(len(records))]
    if "timestamp" not in records:
        raise TrainerError("records have a location_id column but no 'timestamp' column: temporal "
                           "positives need the acquisition date of every image")
    times = pd.to_datetime(records["timestamp"], errors="coerce", utc=True)
    placed = records["location_id"].notna().to_numpy()  # rows of single-date sources have no location_id
    missing = np.flatnonzero(placed & times.isna().to_numpy())
    if len(missing):
        row = int(missing[0])
        raise TrainerError(f"record {row} ({records['image_path'].iloc[row]}) has a missing or unreadable "
                           f"location_id/timestamp: {records['location_id'].iloc[row]!r}, "
                           f"{records['timestamp'].iloc[row]!r}")
    partners = [np.empty(0, dtype=np.int64)] * len(records)
    stamp = times.to_numpy()
    keys = [records[column].to_numpy() for column in place]
    for rows in pd.Series(np.arange(len(records)))[placed].groupby([k[placed] for k in keys]).groups.values():
        rows = np.asarray(rows, dtype=np.int64)
        for i in rows:
            partners[i] = rows[stamp[rows] != stamp[i]]
    return partners
