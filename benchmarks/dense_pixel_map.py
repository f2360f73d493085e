"""Maps of every pixel (csp:classify at stride 1, core/pixel_map.py) vs the bare Presto encoder on the same pixels.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/dense_pixel_map.py  # --columns 24 --rows 24 --runs 3

Raster: real EuroSAT Sentinel-2 L1C patches (``data/eurosat_ms``, 13 bands, 10 m) laid side by side by
``trainer.data.eurosat_mosaic`` (``--columns`` x ``--rows`` patches of 64 px, the 200 patches in turn: 1536 x
1536 px by default). Classifier: what a user gets from ``csp:train_classifier`` with the Presto encoder on that
raster (points at the centres of the first 40 patches, 4 per class; 64 px tiles; features
``embedding+statistics``, so that the encoder is in every pixel's features).

* **dense map**: ``job.execute()`` of the plugin's Classify runner (``jobs/classify.py``) at stride 1 over the
  whole raster: pixels read through the QGIS raster provider in strips, every pixel embedded once, window sums,
  the head, the class and probability GeoTIFFs (``prepare``, i.e. model load and layer statistics, is timed apart).
* **bare encoder**: ``models/presto_encoder.onnx`` in a bare ``onnxruntime.InferenceSession`` (same intra-op
  threads as the plugin's sessions, created and warmed up outside the timing) on the same pixels as 1 x 1 tiles
  (their 10 Presto bands pre-cut in memory, each with its own (lat, lon), the same month), 8192 per run.

pixels/s = the raster's pixels / seconds. The two alternate (A B, B A, …) so that both see the same machine
load; the ratio is computed per pair and the median, minimum and maximum are reported. The peak RSS of the
process during the dense maps is reported too (the map holds one strip at a time).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from classify_vs_ort import PeakRss

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), "/usr/share/qgis/python/plugins"]
PRESTO = REPO / "models" / "presto_encoder.onnx"
PRESTO_BANDS = [1, 2, 3, 4, 5, 6, 7, 12, 10, 11]  # B02..B08, B8A, B11, B12 in EuroSAT's file order
PER_CLASS = 20  # patches per class in data/eurosat_ms
LABELLED = 40  # patches whose centre points train the classifier
CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
           "Residential", "River", "SeaLake")


def build_scene(folder: Path, columns: int, rows: int) -> Path:
    """``columns`` x ``rows`` real EuroSAT patches, classes in turn, and a point at each patch centre."""
    from trainer.data.eurosat_mosaic import build_mosaic

    names = [(CLASSES[i % len(CLASSES)], (i // len(CLASSES)) % PER_CLASS + 1) for i in range(columns * rows)]
    patches = [REPO / "data" / "eurosat_ms" / name / f"{name}_{n}.tif" for name, n in names]
    build_mosaic(patches, [p.parent.name for p in patches], folder / "scene.tif", folder / "labels.gpkg", columns)
    return folder / "scene.tif"


def train(scene: Path, out: Path) -> Path:
    import processing
    from qgis.core import QgsVectorLayer

    labels = QgsVectorLayer(f"{scene.parent / 'labels.gpkg'}|layername=centres", "labels", "ogr")
    labels.setSubsetString(f'"fid" <= {LABELLED}')
    processing.run("csp:train_classifier", {
        "INPUT": str(scene), "ENCODER": str(PRESTO), "LABELS": labels, "CLASS_FIELD": "class", "FOLDS": 3,
        "FEATURES": 3, "C": 1.0, "OUTPUT": str(out)})  # FEATURES 3: embedding+statistics
    return out


def bare_pixels(job) -> dict[str, np.ndarray]:
    """The Presto inputs of every pixel of the job's grid: spectra (N, 10, 1, 1), (lat, lon), month, band mask."""
    from qgis_csp_plugin.core.classify import read_strip
    from qgis_csp_plugin.core.tiling import Extent, Strip

    grid = job.grid
    extent = Extent(grid.xmin, grid.ymax - grid.n_rows * grid.res_y, grid.xmin + grid.n_cols * grid.res_x, grid.ymax)
    pixels, valid = read_strip(job.reader, Strip(0, extent, grid.n_cols, grid.n_rows), len(job.model.metadata.bands))
    if job.classifier.transform is not None:
        job.classifier.transform.apply(pixels)
    rows, cols = np.nonzero(valid)
    xs, ys = grid.xmin + (cols + 0.5) * grid.res_x, grid.ymax - (rows + 0.5) * grid.res_y
    return {"image": np.ascontiguousarray(pixels[:, rows, cols].T).reshape(-1, pixels.shape[0], 1, 1),
            "latlon": job.classifier.to_latlon(xs, ys).astype(np.float32),
            "month": np.full(len(rows), job.classifier.month, np.int64), "band_mask": job.classifier.band_mask}


def bare_encoder(inputs: dict[str, np.ndarray], threads: int) -> float:
    """Pixels/s of the bare encoder session on ``inputs``, 8192 pixels per run."""
    import onnxruntime as ort

    from qgis_csp_plugin.contract.onnx_model import PIXELS_PER_RUN

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(PRESTO), options, providers=["CPUExecutionProvider"])
    n = len(inputs["image"])

    def feeds(start: int) -> dict[str, np.ndarray]:
        part = slice(start, start + PIXELS_PER_RUN)
        return {k: (v if k == "band_mask" else v[part]) for k, v in inputs.items()}

    session.run(None, feeds(0))  # warm-up
    start = time.perf_counter()
    for first in range(0, n, PIXELS_PER_RUN):
        session.run(None, feeds(first))
    return n / (time.perf_counter() - start)


def dense_map(layer, model: Path, folder: Path) -> tuple[float, float, object, dict[str, int]]:
    """(pixels/s of execute, seconds of prepare, the result, encoder pixels: own and filled tiles)."""
    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

    outputs = {"classes": folder / "classes.tif", "probability": folder / "probability.tif"}
    start = time.perf_counter()
    job = prepare(ClassifyRequest(layer, model, outputs, stride=1))
    prepared = time.perf_counter()
    encoder, counts = job.pixel_mapper.encoder, {"runs": 0, "pixels": 0}
    run = encoder.run

    def counted(**feeds):
        counts["runs"] += 1
        counts["pixels"] += len(feeds["image"])
        return run(**feeds)

    encoder.run = counted
    results, _ = job.execute()
    seconds = time.perf_counter() - prepared
    return job.grid.n_tiles / seconds, prepared - start, results, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", type=int, default=24)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from qgis.core import QgsApplication, QgsRasterLayer

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from qgis_csp_plugin.processing.provider import CspProvider

    provider = CspProvider()  # kept referenced while it is registered
    QgsApplication.processingRegistry().addProvider(provider)
    from qgis_csp_plugin.contract.execution import current_runtime
    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene = build_scene(folder, args.columns, args.rows)
        model = train(scene, folder / "presto_head.onnx")
        layer = QgsRasterLayer(str(scene), "scene")
        job = prepare(ClassifyRequest(layer, model, {}, stride=1))
        inputs = bare_pixels(job)
        threads = current_runtime().threads
        dense, bare, prepare_s, ratios, peaks = [], [], [], [], []
        for run in range(args.runs):
            order = ("dense", "bare") if run % 2 == 0 else ("bare", "dense")
            pair = {}
            for what in order:
                if what == "dense":
                    with PeakRss() as rss:
                        pair["dense"], seconds, results, counts = dense_map(layer, model, folder)
                    peaks.append(rss.peak)
                    prepare_s.append(seconds)
                else:
                    pair["bare"] = bare_encoder(inputs, threads)
            dense.append(pair["dense"])
            bare.append(pair["bare"])
            ratios.append(pair["dense"] / pair["bare"])
            print(f"pair {run + 1} ({' then '.join(order)}): dense {pair['dense']:,.0f} px/s, bare {pair['bare']:,.0f} "
                  f"px/s, ratio {ratios[-1]:.3f}, load avg {psutil.getloadavg()[0]:.1f}", flush=True)
        grid = job.grid
        print(f"\nraster: {grid.n_cols} x {grid.n_rows} px ({grid.n_tiles:,} pixels, {results.classified:,} "
              f"classified) of real EuroSAT patches; classifier: {job.model.metadata.training['features']} on Presto, "
              f"{job.pixel_mapper.tile_size} px tiles")
        print(f"encoder pixels in the dense map: {counts['pixels']:,} in {counts['runs']} runs = {grid.n_tiles:,} "
              f"pixels + {counts['pixels'] - grid.n_tiles:,} filled tiles at the layer's edges "
              f"({counts['pixels'] / grid.n_tiles - 1:.1%} more than the bare encoder)")
        print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPU(s), onnxruntime "
              f"intra-op threads {threads or 'default (all cores)'}; prepare {np.median(prepare_s):.2f} s "
              f"(not in the dense time); peak RSS during the dense maps {max(peaks) / 1024 ** 3:.2f} GiB")
        print(f"dense map   : {', '.join(f'{r:,.0f}' for r in dense)} px/s")
        print(f"bare encoder: {', '.join(f'{r:,.0f}' for r in bare)} px/s")
        print(f"ratio dense/bare per pair: {', '.join(f'{r:.3f}' for r in ratios)}; median {np.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}; goal >= 0.8)")
        del layer, job
    app.exitQgis()


if __name__ == "__main__":
    main()
