"""Previous (200 EuroSAT patches) vs retrained (``eurosat_all``) default models on the EuroSAT patches
that neither trained on: the ``eurosat_all`` validation and test patches outside the 200-patch recipe's
training split (test: also outside its validation split, which chose that prior's α). The decision to
ship is taken on the validation rows; the test rows are reported, not used.
Usage: python scripts/compare_default_models.py OLD_MODELS_DIR NEW_MODELS_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.data.registry import image_records
from trainer.data.splits import split_records
from trainer.evaluation.crossval import fold_predictions, wilson
from trainer.evaluation.linear_probe import embed


def labelled_split(source: str) -> dict[str, pd.DataFrame]:
    """The seeded 0.2/0.2 split (split_seed 0) the default models are trained around."""
    records = image_records(source)
    return split_records(records[records["label"] >= 0].reset_index(drop=True), 0.2, 0.2, 0)


def accuracy(correct: np.ndarray) -> str:
    """``acc [low, high] (k/n)`` with the 95 % Wilson interval."""
    k, n = int(correct.sum()), len(correct)
    low, high = wilson(k, n)
    return f"{k / n:.3f} [{low:.2f}, {high:.2f}] ({k}/{n})"


def main(old_dir: Path, new_dir: Path) -> None:
    old, new = labelled_split("eurosat"), labelled_split("eurosat_all")
    old_train = set(old["train"]["image_path"])
    old_seen = old_train | set(old["val"]["image_path"])
    sets = {"clean val": new["val"][~new["val"]["image_path"].isin(old_train)],
            "clean test": new["test"][~new["test"]["image_path"].isin(old_seen)]}
    probe_train = new["train"][new["train"]["image_path"].isin(old_train)]  # pre-trained on by both encoders
    print("| model | version | set | native | 30 m |\n|---|---|---|---|---|")
    for version, folder in (("previous", old_dir), ("retrained", new_dir)):
        for name in ("eurosat_rgb", "eurosat_s2"):
            model = OnnxModel.load(folder / f"{name}.onnx")
            for set_name, records in sets.items():
                rows = fold_predictions(model, records, {"30m": 3.0})
                print(f"| {name} | {version} | {set_name} | {accuracy(rows['native'] == rows['label'])} | "
                      f"{accuracy(rows['30m'] == rows['label'])} |")
        if (folder / "moco_eurosat_encoder.onnx").is_file():  # written by train_default_models.sh, not in git
            encoder = OnnxModel.load(folder / "moco_eurosat_encoder.onnx")
            val = sets["clean val"]
            probe = LogisticRegression(max_iter=2000).fit(embed(encoder, probe_train), probe_train["label"])
            print(f"| moco encoder, logistic probe on {len(probe_train)} patches | {version} | clean val | "
                  f"{accuracy(probe.predict(embed(encoder, val)) == val['label'].to_numpy())} | |")
        prior = OnnxModel.load(folder / "eurosat_prior.onnx")
        for set_name, records in sets.items():
            predicted = prior.run(latlon=records[["lat", "lon"]].to_numpy(np.float32)).argmax(axis=1)
            print(f"| eurosat_prior, location only | {version} | {set_name} | "
                  f"{accuracy(predicted == records['label'].to_numpy())} | |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
