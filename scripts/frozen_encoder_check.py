"""Quick check of frozen image encoders on the labelled EuroSAT patches: logistic regression on k labels per
class, the rest held out, 5 seeds; against per-band mean + std of the patch. All 10 optical bands
("Sentinel-2") and RGB only (the other bands masked: Presto and Galileo; MoCo needs all 13 bands).

Not a model selection: nothing is tuned (C = 1, month 7, each patch's centre as (lat, lon)); the full
comparison with paired intervals is docs/results/few_label_mapping.md.

    nice .venv/bin/python scripts/frozen_encoder_check.py [--models models/galileo_nano_encoder.onnx ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from osgeo import gdal, osr
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from qgis_csp_plugin.contract.bands import S2_OPTICAL_BANDS  # noqa: E402
from qgis_csp_plugin.contract.onnx_model import OnnxModel  # noqa: E402
from trainer.data.bands import EUROSAT_BANDS  # noqa: E402

FOLDERS = (REPO / "data" / "eurosat_ms", REPO.parent / "shared" / "data" / "eurosat_ms_extra")
OPTICAL = [EUROSAT_BANDS.index(b) for b in S2_OPTICAL_BANDS]
RGB_MASK = np.array([b not in ("B02", "B03", "B04") for b in S2_OPTICAL_BANDS], np.float32)


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patches (N, 13, 64, 64) in EuroSAT band order, class ids, (lat, lon) of the patch centres); each file once."""
    seen, images, labels, latlon = set(), [], [], []
    for folder in FOLDERS:
        for path in sorted(folder.glob("*/*.tif")):
            if path.name in seen:
                continue
            seen.add(path.name)
            dataset = gdal.Open(str(path))
            images.append(dataset.ReadAsArray().astype(np.float32))
            labels.append(path.parent.name)
            srs = osr.SpatialReference(wkt=dataset.GetProjection())
            to_degrees = osr.CoordinateTransformation(srs, srs.CloneGeogCS())  # axis order: (lat, lon)
            x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
            latlon.append(to_degrees.TransformPoint(x0 + 32 * dx, y0 + 32 * dy)[:2])
    classes = sorted(set(labels))
    return np.stack(images), np.array([classes.index(c) for c in labels]), np.array(latlon, np.float32)


def accuracy(features: np.ndarray, y: np.ndarray, per_class: int, seeds: int = 5) -> float:
    scores = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        train = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
        test = np.setdiff1d(np.arange(len(y)), train)
        scaler = StandardScaler().fit(features[train])
        head = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        head.fit(scaler.transform(features[train]), y[train])
        scores.append(float((head.predict(scaler.transform(features[test])) == y[test]).mean()))
    return float(np.mean(scores))


def embed(model: OnnxModel, images: np.ndarray, latlon: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    meta = model.metadata
    if mask is None:  # a model without band groups: its own bands
        return np.concatenate([model.run(image=images[i:i + 16][:, [EUROSAT_BANDS.index(b) for b in meta.bands]])
                               for i in range(0, len(images), 16)])
    optical = images[:, OPTICAL] * (1 - mask)[None, :, None, None]
    return np.concatenate([model.run(image=optical[i:i + 8], band_mask=mask, latlon=latlon[i:i + 8],
                                     month=np.full(len(optical[i:i + 8]), 7, np.int64))
                           for i in range(0, len(optical), 8)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    encoders = [REPO / "models" / f"{stem}_encoder.onnx" for stem in ("galileo_nano", "presto", "moco_eurosat")]
    parser.add_argument("--models", nargs="+", type=Path,  # MoCo's encoder only when trained (not in git)
                        default=[path for path in encoders if path.is_file()])
    args = parser.parse_args()
    images, y, latlon = load()
    print(f"{len(y)} EuroSAT patches, {len(np.unique(y))} classes; logistic regression (C = 1, balanced) on k labels "
          "per class, the rest held out, mean of 5 seeds")
    print("| features | bands | k = 5 | k = 20 | seconds |\n|---|---|---|---|---|")
    for setting, mask in (("Sentinel-2 (10 optical)", np.zeros(len(OPTICAL), np.float32)), ("RGB", RGB_MASK)):
        kept = [OPTICAL[i] for i in np.flatnonzero(mask == 0)]
        stats = np.concatenate([images[:, kept].mean(axis=(2, 3)), images[:, kept].std(axis=(2, 3))], axis=1)
        print(f"| per-band mean + std | {setting} | {accuracy(stats, y, 5):.3f} | {accuracy(stats, y, 20):.3f} | |")
        for path in args.models:
            model = OnnxModel.load(path, threads=2, device="cpu")
            maskable = "band_mask" in model.metadata.extra_inputs
            if not maskable and setting == "RGB":
                continue
            start = time.perf_counter()
            features = embed(model, images, latlon, mask if maskable else None)
            seconds = time.perf_counter() - start
            print(f"| {model.metadata.name} | {setting} | {accuracy(features, y, 5):.3f} | "
                  f"{accuracy(features, y, 20):.3f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
