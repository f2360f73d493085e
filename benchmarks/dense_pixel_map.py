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
  threads as the plugin's sessions, created and warmed up outside the timing) on the raster's pixels as 1 x 1
  tiles (their 10 Presto bands pre-cut in memory, each with its own (lat, lon), the same month), 8192 per run.

The machine is shared and its load swings within minutes, so the two are interleaved finely: beside each of the
dense map's encoder runs (8192 pixels), the bare session runs on the raster's next 8192 pixels (cycling), before
or after it in turn. The dense map's time is its wall time minus the bare runs'; pixels/s = the raster's pixels
/ that time, the bare encoder's = its pixels / its time; their ratio is measured in each run, and the median,
minimum and maximum over ``--runs`` runs are reported. Memory: the growth of the process's RSS during a dense
map (peak sampled every 20 ms, minus the RSS before it; the bare session is warmed up on 8192 pixels first).
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


class Interleaved:
    """The dense map's encoder session, with a run of the bare encoder session beside each of its runs (on the
    raster's next 8192 pixels, cycling; the order alternates), so that both see the same machine load."""

    def __init__(self, inner, bare, inputs: dict[str, np.ndarray]) -> None:
        self.inner, self.bare, self.inputs = inner, bare, inputs
        self.runs = self.pixels = self.bare_pixels = self.next = 0
        self.bare_s = 0.0

    def run(self, names, feeds):
        self.runs += 1
        self.pixels += len(feeds["image"])
        if self.runs % 2:
            out = self.inner.run(names, feeds)
            self._bare()
            return out
        self._bare()
        return self.inner.run(names, feeds)

    def _bare(self) -> None:
        from qgis_csp_plugin.contract.onnx_model import PIXELS_PER_RUN

        part = slice(self.next, self.next + PIXELS_PER_RUN)
        feeds = {k: (v if k == "band_mask" else v[part]) for k, v in self.inputs.items()}
        start = time.perf_counter()
        self.bare.run(None, feeds)
        self.bare_s += time.perf_counter() - start
        self.bare_pixels += len(feeds["image"])
        self.next = 0 if self.next + PIXELS_PER_RUN >= len(self.inputs["image"]) else self.next + PIXELS_PER_RUN

    def __getattr__(self, name):
        return getattr(self.inner, name)


def bare_session(threads: int):
    """``models/presto_encoder.onnx`` in a bare onnxruntime session (the plugin's intra-op threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(PRESTO), options, providers=["CPUExecutionProvider"])


def dense_map(layer, model: Path, folder: Path, bare, inputs: dict[str, np.ndarray]) -> dict[str, object]:
    """One dense map with the bare encoder interleaved: pixels/s of each, seconds of prepare, encoder pixels, and
    the growth of the RSS during the map."""
    from qgis_csp_plugin.contract.onnx_model import PIXELS_PER_RUN
    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

    outputs = {"classes": folder / "classes.tif", "probability": folder / "probability.tif"}
    start = time.perf_counter()
    job = prepare(ClassifyRequest(layer, model, outputs, stride=1))
    prepared = time.perf_counter()
    encoder = job.pixel_mapper.encoder
    encoder.session = Interleaved(encoder.session, bare, inputs)
    bare.run(None, {k: (v if k == "band_mask" else v[:PIXELS_PER_RUN]) for k, v in inputs.items()})  # warm-up
    before = psutil.Process().memory_info().rss
    executing = time.perf_counter()
    with PeakRss() as rss:
        results, _ = job.execute()
    dense_s = time.perf_counter() - executing - encoder.session.bare_s
    session = encoder.session
    return {"dense": job.grid.n_tiles / dense_s, "bare": session.bare_pixels / session.bare_s,
            "prepare": prepared - start, "results": results, "encoder_pixels": session.pixels,
            "encoder_runs": session.runs, "peak": rss.peak - before, "seconds": dense_s}


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
    from qgis_csp_plugin.processing.provider import GeoSslProvider

    provider = GeoSslProvider()  # kept referenced while it is registered
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
        bare = bare_session(threads)
        runs = []
        for run in range(args.runs):
            runs.append(dense_map(layer, model, folder, bare, inputs))
            r = runs[-1]
            print(f"run {run + 1}: dense map {r['dense']:,.0f} px/s ({r['seconds']:.0f} s), bare encoder "
                  f"{r['bare']:,.0f} px/s, ratio {r['dense'] / r['bare']:.3f}, load avg {psutil.getloadavg()[0]:.1f}",
                  flush=True)
        grid, last = job.grid, runs[-1]
        ratios = [r["dense"] / r["bare"] for r in runs]
        print(f"\nraster: {grid.n_cols} x {grid.n_rows} px ({grid.n_tiles:,} pixels, {last['results'].classified:,} "
              f"classified) of real EuroSAT patches; classifier: {job.model.metadata.training['features']} on Presto, "
              f"{job.pixel_mapper.tile_size} px tiles")
        print(f"encoder pixels in the dense map: {last['encoder_pixels']:,} in {last['encoder_runs']} runs = "
              f"{grid.n_tiles:,} pixels + {last['encoder_pixels'] - grid.n_tiles:,} filled tiles at the layer's edges "
              f"({last['encoder_pixels'] / grid.n_tiles - 1:.1%} more than the bare encoder)")
        prepare_s = np.median([r["prepare"] for r in runs])
        peak = max(r["peak"] for r in runs) / 1024 ** 3
        print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPU(s), onnxruntime "
              f"intra-op threads {threads or 'default (all cores)'}; prepare {prepare_s:.2f} s (not in the dense "
              f"time); the RSS grew by at most {peak:.2f} GiB during a dense map")
        print("dense map   : " + ", ".join(f"{r['dense']:,.0f}" for r in runs) + " px/s")
        print("bare encoder: " + ", ".join(f"{r['bare']:,.0f}" for r in runs) + " px/s")
        print(f"ratio dense/bare per run: {', '.join(f'{r:.3f}' for r in ratios)}; median {np.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}; goal >= 0.8)")
        del layer, job
    app.exitQgis()


if __name__ == "__main__":
    main()
