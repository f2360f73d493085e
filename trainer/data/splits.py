"""The trainer's one split policy, by place, and few-label subsets of labelled record tables.

Every split of the trainer (image and CSP data modules, shard sets, location priors, ``crossval``,
``evaluate``, ``prior-exponent``) comes from here, and all of it is **by place**: the records of one place
(:func:`place_keys`: one ``location_id``, e.g. the dates of a multi-date site, or else identical (lat, lon))
always land on the same side. Labelled records are split seeded and stratified by label over places (one
train/val/test split, or the folds of a k-fold partition; each place counts once, with the label of its first
record); :func:`split_by_place` puts unlabelled records in train. Where every place holds one record (EuroSAT),
the split is the plain per-record stratified split of the same seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split

from trainer.errors import TrainerError

SPLITS = ("train", "val", "test")


def place_keys(records: pd.DataFrame) -> pd.Series:
    """Each record's place: its ``location_id`` where it has one, else its exact (lat, lon)."""
    coordinates = "at " + records["lat"].astype(str) + "," + records["lon"].astype(str)
    if "location_id" not in records:
        return coordinates
    location = records["location_id"]
    named = location.notna() & (location.astype(str) != "")
    return ("id " + location.astype(str)).where(named, coordinates)


def _by_place(split):
    """``split`` (a per-record split of a table) applied to the places of ``records``: the first record of each
    place stands for it, every record follows its place (in the order of the places' split)."""
    def per_place(records: pd.DataFrame, *args, **kwargs) -> dict[str, pd.DataFrame]:
        place = place_keys(records)
        first = ~place.duplicated().to_numpy()
        if first.all():
            return split(records, *args, **kwargs)
        parts = {}
        for name, part in split(records[first], *args, **kwargs).items():
            rank = place.map(pd.Series(np.arange(len(part)), index=place_keys(part).to_numpy())).to_numpy()
            rows = np.flatnonzero(~np.isnan(rank))
            parts[name] = records.iloc[rows[np.argsort(rank[rows], kind="stable")]]
        return parts
    per_place.__doc__, per_place.__name__ = split.__doc__, split.__name__
    return per_place


@_by_place
def split_records(records: pd.DataFrame, val_fraction: float = 0.2, test_fraction: float = 0.2,
                  seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"train", "val", "test"}`` tables, stratified by ``label`` over places; the same seed gives the same
    split."""
    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise TrainerError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in "
                           "[0, 1) with a sum below 1")
    try:
        rest, test = train_test_split(records, test_size=test_fraction, random_state=seed,
                                      stratify=records["label"])
        if val_fraction == 0:
            return {"train": rest, "val": rest.iloc[:0], "test": test}
        train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
                                      stratify=rest["label"])
    except ValueError as exc:  # too few samples of a class for the requested fractions
        raise TrainerError(f"cannot split {len(records)} records into train/val/test: {exc}") from exc
    return {"train": train, "val": val, "test": test}


@_by_place
def fold_split(records: pd.DataFrame, folds: int, fold: int, val_fraction: float = 0.2,
               seed: int = 0) -> dict[str, pd.DataFrame]:
    """Fold ``fold`` of a seeded stratified ``folds``-fold partition of the places as ``test``; ``val``
    (``val_fraction`` of all places) and ``train`` stratified from the other folds. Over
    ``fold = 0 … folds-1`` every record is in exactly one test split."""
    if folds < 2 or not 0 <= fold < folds:
        raise TrainerError(f"fold {fold} of {folds} folds: need folds >= 2 and 0 <= fold < folds")
    if not 0 <= val_fraction < 1 - 1 / folds:
        raise TrainerError(f"val_fraction {val_fraction} must be in [0, {1 - 1 / folds:g}) with {folds} folds")
    try:
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(records, records["label"])
        rest_rows, test_rows = list(splits)[fold]
        rest, test = records.iloc[rest_rows], records.iloc[test_rows]
        if val_fraction == 0:
            return {"train": rest, "val": rest.iloc[:0], "test": test}
        train, val = train_test_split(rest, test_size=val_fraction * folds / (folds - 1), random_state=seed,
                                      stratify=rest["label"])
    except ValueError as exc:  # a class with fewer records than folds
        raise TrainerError(f"cannot split {len(records)} records into {folds} folds: {exc}") from exc
    return {"train": train, "val": val, "test": test}


def evaluation_split(records: pd.DataFrame, val_fraction: float, test_fraction: float, seed: int,
                     folds: int = 0, fold: int = 0) -> dict[str, pd.DataFrame]:
    """:func:`split_records` when ``folds`` is 0, else :func:`fold_split` (``test_fraction`` unused)."""
    if folds:
        return fold_split(records, folds, fold, val_fraction, seed)
    return split_records(records, val_fraction, test_fraction, seed)


def split_by_place(records: pd.DataFrame, val_fraction: float, test_fraction: float, seed: int, folds: int = 0,
                   fold: int = 0) -> dict[str, pd.DataFrame]:
    """The split policy for a source's records: labelled ones by :func:`evaluation_split` (by place), unlabelled
    ones all in train (pre-training data); no labelled record, or fractions 0 and 0 without folds: all train."""
    labelled = records[records["label"] >= 0]
    if not len(labelled) or (val_fraction == test_fraction == 0 and not folds):
        return {"train": records, "val": records.iloc[:0], "test": records.iloc[:0]}
    parts = evaluation_split(labelled, val_fraction, test_fraction, seed, folds, fold)
    parts["train"] = pd.concat([parts["train"], records[records["label"] < 0]])
    return parts


def random_places(records: pd.DataFrame, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, part)``: row positions of ``records``, ``part`` holding a seeded random ``fraction`` of the places
    (at least one; labels play no part, e.g. a validation split of unlabelled pairs), in drawn order."""
    codes, _ = pd.factorize(place_keys(records))
    n_places = int(codes.max()) + 1 if len(codes) else 0
    order = torch.randperm(n_places, generator=torch.Generator().manual_seed(seed)).numpy()
    picked = np.zeros(n_places, dtype=bool)
    picked[order[:max(1, round(n_places * fraction))]] = True
    rank = np.empty(n_places, dtype=np.int64)
    rank[order] = np.arange(n_places)
    drawn = np.argsort(rank[codes], kind="stable")
    return drawn[~picked[codes[drawn]]], drawn[picked[codes[drawn]]]


def stored_split(records: pd.DataFrame, folds: int = 0) -> dict[str, pd.DataFrame]:
    """The train/val/test split a source wrote into its ``split`` column (a shard set, at build time);
    ``folds`` are refused: the split is fixed."""
    if folds:
        raise TrainerError("these records hold the one split drawn when their shard set was built: folds need a "
                           "source without one")
    return {name: records[records["split"] == name] for name in SPLITS}


def label_subset(records: pd.DataFrame, ratio: float, seed: int = 0) -> pd.DataFrame:
    """``round(n_c · ratio)`` (at least one) records of every class ``c``, seeded."""
    if not 0 < ratio <= 1:
        raise TrainerError(f"label_ratio {ratio} must be in (0, 1]")
    if ratio == 1:
        return records
    parts = [group.sample(n=max(1, round(len(group) * ratio)), random_state=seed)
             for _, group in records.groupby("label", sort=True)]
    return pd.concat(parts)


def carve_validation(records: pd.DataFrame, fraction: float = 0.2, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"train", "val"}`` from labelled ``records`` (e.g. a few-label subset): ``round(N · fraction)`` records
    drawn at random (seeded) among all but one record of every class, so every class keeps at least one
    training record and a class with a few records is as likely to be validated as any other (with
    per-class rounding, classes of one or two records would never be)."""
    if not 0 < fraction < 1:
        raise TrainerError(f"validation fraction {fraction} must be in (0, 1)")
    shuffled = records.sample(frac=1.0, random_state=seed)
    spare = shuffled[shuffled.groupby("label").cumcount() > 0]  # the first record of each class stays
    val = spare.sample(n=min(round(len(records) * fraction), len(spare)), random_state=seed)
    return {"train": records.drop(index=val.index), "val": val}
