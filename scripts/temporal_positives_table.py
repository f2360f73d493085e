"""Linear probe of MoCo variants' frozen encoders on the labelled EuroSAT patches (``eurosat_all``):
logistic regression on the embeddings of the 281 training patches of the seeded split (split_seed 0),
accuracy on the 94 validation patches (the variant is chosen on these) and the 94 test patches, and a
5-fold cross-validation of the probe over all 469 patches; 95 % Wilson intervals.
Usage: python scripts/temporal_positives_table.py OUT_WITHOUT_EXTENSION NAME=CHECKPOINT_OR_ONNX ...
(a ``.ckpt`` is exported to an image-encoder ONNX next to it first).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.evaluation.crossval import wilson
from trainer.evaluation.linear_probe import cv_predictions, embed, fit_probe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_default_models import labelled_split  # noqa: E402


def encoder_file(path: Path) -> Path:
    """``path`` itself (ONNX) or the image-encoder ONNX exported from a checkpoint."""
    if path.suffix == ".onnx":
        return path
    from trainer.export.onnx_writer import export_onnx
    from trainer.tasks.base import load_task

    out = path.with_name(path.stem + "_encoder.onnx")
    export_onnx(load_task(path).export_spec("image_encoder"), out)
    return out


def cell(correct: pd.Series) -> tuple[float, float, float, int, int]:
    k, n = int(correct.sum()), len(correct)
    return (k / n, *wilson(k, n), k, n)


def main(out: Path, encoders: dict[str, Path]) -> None:
    parts = labelled_split("eurosat_all")
    everything = pd.concat([frame.assign(split=name) for name, frame in parts.items()], ignore_index=True)
    rows = []
    for name, path in encoders.items():
        encoder = OnnxModel.load(encoder_file(path))
        features, labels = embed(encoder, everything), everything["label"].to_numpy()
        split = everything["split"].to_numpy()
        probe = fit_probe(features[split == "train"], labels[split == "train"])
        results = {part: cell(pd.Series(probe.predict(features[split == part]) == labels[split == part]))
                   for part in ("val", "test")}
        results["cv5"] = cell(pd.Series(cv_predictions(features, labels) == labels))
        for split, (acc, low, high, k, n) in results.items():
            rows.append({"encoder": name, "set": split, "accuracy": acc, "low": low, "high": high,
                         "correct": k, "n": n})
        print(name, {s: f"{r[0]:.3f} [{r[1]:.2f}, {r[2]:.2f}]" for s, r in results.items()}, flush=True)
    table = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False, float_format="%.4f")
    print("| encoder | validation (94) | test (94) | 5-fold CV of the probe (469) |\n|---|---|---|---|")
    for name, group in table.groupby("encoder", sort=False):
        cells = [f"{r.accuracy:.3f} [{r.low:.2f}, {r.high:.2f}] ({r.correct}/{r.n})" for r in group.itertuples()]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
