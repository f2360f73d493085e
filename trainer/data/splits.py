"""Seeded, stratified train/val/test splits (one split, or the folds of a k-fold partition) and
few-label subsets of labelled record tables."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from trainer.errors import TrainerError


def split_records(records: pd.DataFrame, val_fraction: float = 0.2, test_fraction: float = 0.2,
                  seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"train", "val", "test"}`` tables, stratified by ``label``; the same seed gives the same split."""
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


def fold_split(records: pd.DataFrame, folds: int, fold: int, val_fraction: float = 0.2,
               seed: int = 0) -> dict[str, pd.DataFrame]:
    """Fold ``fold`` of a seeded stratified ``folds``-fold partition as ``test``; ``val``
    (``val_fraction`` of all records) and ``train`` stratified from the other folds. Over
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


SPLITS = ("train", "val", "test")


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
