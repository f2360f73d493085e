"""Classify-layer throughput vs raw onnxruntime, and peak memory on a 20,480 x 20,480 px raster.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/classify_vs_ort.py [--strips 8]
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/classify_vs_ort.py --stride 16 --runs 3 --strips -1

``--stride`` runs the dense case (tiles ``stride`` px apart; the plugin also averages each cell over
the tiles that contain it, the raw path only runs the model on the same tiles); ``--strips -1``
skips the memory run.

Plugin path = ``prepare`` + ``execute`` of the QGIS runner (model load, pixels read through the
QGIS raster provider, batching, ONNX, three output files). Raw path = the same ONNX file in a
bare onnxruntime session on the same tiles pre-cut in memory. Both run in this process, in
back-to-back pairs (so both see the same machine load); the ratio is the median of the pair
ratios. Both must give the same probabilities, so the model is a ResNet-18 (random weights, 64 px
tiles at the scene's own 30 m, raw radiometry) exported with the trainer's exporter: the default
RGB model resamples to 10 m and matches layer statistics, which the raw path would not reproduce.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from osgeo import gdal

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), "/usr/share/qgis/python/plugins"]
LANDSAT = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
OVERLAP = 0.5
RUNS = 5


def benchmark_model(folder: Path) -> Path:
    import torch
    import torchvision

    from qgis_csp_plugin.contract.schema import ModelMetadata
    from trainer.export.onnx_writer import export_onnx
    from trainer.export.spec import ExportSpec

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torchvision.models.resnet18(num_classes=10)

        def forward(self, image):
            return torch.softmax(self.net((image - 7000.0) / 700.0), dim=1)

    torch.manual_seed(0)
    meta = ModelMetadata(kind="image_classifier", name="bench_resnet18", class_names=[f"c{i}" for i in range(10)],
                         bands=["red", "green", "blue"], tile_size=64, gsd_m=30.0,
                         normalization={"mean": [7000.0] * 3, "std": [700.0] * 3})
    path = folder / "bench_resnet18.onnx"
    export_onnx(ExportSpec(Net().eval(), (torch.zeros(2, 3, 64, 64),), ("image",), "probabilities", meta,
                           atol=1e-3), path)
    return path


def precut_tiles(tile: int, stride: int) -> np.ndarray:
    """The plugin's tiles of the scene (row-major, ``stride`` px apart), cut in memory with GDAL + numpy."""
    pixels = gdal.Open(str(LANDSAT)).ReadAsArray().astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (tile, tile), axis=(1, 2))[:, ::stride, ::stride]
    return np.ascontiguousarray(windows.transpose(1, 2, 0, 3, 4).reshape(-1, 3, tile, tile))


def raw_ort(model_path: Path, tiles: np.ndarray, batch: int) -> tuple[float, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    session.run(["probabilities"], {"image": tiles[:batch]})  # warm-up
    start = time.perf_counter()
    out = [session.run(["probabilities"], {"image": tiles[i:i + batch]})[0] for i in range(0, len(tiles), batch)]
    return len(tiles) / (time.perf_counter() - start), np.concatenate(out)


def plugin_path(layer, model_path: Path, batch: int, folder: Path,
                stride: int | None) -> tuple[float, float, np.ndarray]:
    """(tiles/s of prepare + execute, seconds of prepare = model load and checks, probabilities)."""
    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

    outputs = {"vector": folder / "t.gpkg", "classes": folder / "c.tif", "probability": folder / "p.tif"}
    start = time.perf_counter()
    job = prepare(ClassifyRequest(layer, model_path, outputs, batch_size=batch, overlap=OVERLAP, stride=stride))
    prepared = time.perf_counter()
    results, _ = job.execute()
    return len(results.indices) / (time.perf_counter() - start), prepared - start, results.probabilities


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread."""

    def __enter__(self) -> PeakRss:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def throughput(model_path: Path, batch: int, folder: Path, stride: int | None, runs: int) -> None:
    from qgis.core import QgsRasterLayer

    from qgis_csp_plugin.contract.onnx_model import OnnxModel
    from qgis_csp_plugin.core.dense import box_mean, cell_halfwidth

    tile = OnnxModel.load(model_path).metadata.tile_size
    stride = stride or round(tile * (1 - OVERLAP))
    tiles = precut_tiles(tile, stride)
    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    plugin_runs, raw_runs, prepare_s = [], [], []
    for _ in range(runs):
        rate, seconds, plugin_probs = plugin_path(layer, model_path, batch, folder, stride)
        plugin_runs.append(rate)
        prepare_s.append(seconds)
        rate, raw_probs = raw_ort(model_path, tiles, batch)
        raw_runs.append(rate)
    side = int(round(len(tiles) ** 0.5))  # the scene is square
    raw_cells = box_mean(raw_probs.reshape(side, side, -1), cell_halfwidth(tile, stride)).reshape(len(tiles), -1)
    np.testing.assert_allclose(plugin_probs, raw_cells, atol=1e-4)  # same tiles, same answers
    n_tiles = len(tiles)
    ratios = np.array(plugin_runs) / np.array(raw_runs)
    pair = int(np.argsort(ratios)[len(ratios) // 2])
    steady = n_tiles / (n_tiles / plugin_runs[pair] - prepare_s[pair])
    print(f"model {model_path.name}, {n_tiles} tiles of {tile} px (stride {stride} px) from "
          f"{LANDSAT.name}, batch {batch}, {psutil.cpu_count()} CPU(s)")
    print(f"plugin path : {', '.join(f'{r:6.1f}' for r in plugin_runs)} tiles/s")
    print(f"raw ORT     : {', '.join(f'{r:6.1f}' for r in raw_runs)} tiles/s")
    print(f"pair ratios : {', '.join(f'{r:6.3f}' for r in ratios)}")
    print(f"ratio plugin/raw (median pair): {ratios[pair]:.3f} (goal >= 0.9); that pair spent "
          f"{prepare_s[pair]:.2f} s in prepare (model load, checks), without it: {steady / raw_runs[pair]:.3f}")


def mosaic_memory(model_path: Path, batch: int, strips: int, folder: Path) -> None:
    """Classify full-width strips of a 20 x 20 mosaic of the scene; prints the peak RSS of this process."""
    from qgis.core import QgsRasterLayer, QgsRectangle
    from raster_factory import mosaic_vrt

    from qgis_csp_plugin.contract.onnx_model import read_metadata
    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

    mosaic = QgsRasterLayer(str(mosaic_vrt(LANDSAT, folder / "mosaic.vrt", 20)), "mosaic")
    e = mosaic.extent()
    height = strips * read_metadata(model_path).tile_size * mosaic.rasterUnitsPerPixelY()
    extent = QgsRectangle(e.xMinimum(), e.yMaximum() - height, e.xMaximum(), e.yMaximum()) if strips else None
    outputs = {"vector": folder / "m.gpkg", "classes": folder / "m.tif"}
    start = time.perf_counter()
    with PeakRss() as peak:
        job = prepare(ClassifyRequest(mosaic, model_path, outputs, extent=extent, batch_size=batch, max_tiles=None))
        results, _ = job.execute()
    print(f"mosaic {mosaic.width()} x {mosaic.height()} px: classified {len(results.indices):,} tiles "
          f"({job.grid.n_cols} x {job.grid.n_rows}, full width) in {time.perf_counter() - start:.1f} s; "
          f"peak RSS {peak.peak / 2**30:.2f} GiB (goal < 2 GiB; process: QGIS + onnxruntime, no torch)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--strips", type=int, default=8,
                        help="full-width tile rows of the mosaic to classify (0 = all, -1 = no memory run)")
    parser.add_argument("--stride", type=int, help="tile stride in px (default: overlap 0.5); dense if < tile/2")
    parser.add_argument("--runs", type=int, default=RUNS, help="plugin/raw pairs")
    parser.add_argument("--mosaic-only", type=Path, help=argparse.SUPPRESS)  # the memory run in a fresh process
    args = parser.parse_args()
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.mosaic_only:
            mosaic_memory(args.mosaic_only, args.batch, args.strips, folder)
        else:
            model_path = benchmark_model(folder)
            throughput(model_path, args.batch, folder, args.stride, args.runs)
            sys.stdout.flush()
            if args.strips >= 0:
                    subprocess.run([sys.executable, __file__, "--batch", str(args.batch), "--strips", str(args.strips),
                                "--mosaic-only", str(model_path)], check=True)
    app.exitQgis()


if __name__ == "__main__":
    main()
