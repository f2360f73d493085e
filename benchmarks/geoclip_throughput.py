"""GeoCLIP's location encoder: our heatmap pipeline (ONNX) vs GeoCLIP's own torch ``LocationEncoder``.

In one run, on the same points (the cell centres of a world grid in EPSG:4326):

* **pipeline** = the plugin core's location-embedding heatmap (cell centres → (lat, lon) with row
  interpolation → the imported ONNX in parallel single-threaded sessions → stored PCA → GeoTIFF);
* **torch** = ``geoclip``'s ``LocationEncoder`` forward (its code, its weights) in batches of
  ``--torch_batch`` under ``torch.no_grad()``, torch's default threads;
* **bare ONNX** = onnxruntime alone on the same points (the faster of a session loop and parallel
  single-threaded sessions, as in ``heatmap_throughput.py``).

Each timing is the best of ``--repeats`` runs, alternating, so all see the same load of the shared
machine. Needs the ``geoclip`` package (``pip install --no-deps geoclip==1.3.0``); the model is
imported to a temporary folder unless ``--model`` names one.

    nice .venv/bin/python benchmarks/geoclip_throughput.py [--width 512]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from heatmap_throughput import EXTENTS, _timed, matmul_flops, mlp_flops_per_point, raw_ort, wkt  # noqa: E402

from qgis_csp_plugin.contract.onnx_model import OnnxModel  # noqa: E402
from qgis_csp_plugin.core.cell_latlon import latlon_transform  # noqa: E402
from qgis_csp_plugin.core.grid import CellGrid  # noqa: E402
from qgis_csp_plugin.core.heatmap import LocationHeatmap  # noqa: E402
from trainer.pretrained.geoclip_import import embed, import_geoclip  # noqa: E402
from trainer.pretrained.geoclip_release import find_release, reference_encoder  # noqa: E402

CRS = "EPSG:4326"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=512, help="grid width in cells (height = width / 2)")
    parser.add_argument("--model", type=Path, help="imported GeoCLIP ONNX (default: import to a temporary folder)")
    parser.add_argument("--torch_batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = args.model or import_geoclip(folder / "geoclip.onnx").out
        model = OnnxModel.load(path)
        reference = reference_encoder(find_release())
        flops = mlp_flops_per_point(model)
        machine, fastest = matmul_flops(folder)

        grid = CellGrid.from_shape(EXTENTS[CRS], args.width, args.width // 2)
        to_latlon = latlon_transform(wkt(CRS), 0.01 * grid.cell_w)
        heatmap = LocationHeatmap(model, to_latlon)
        latlon, valid = to_latlon.grid_rows(grid, 0, grid.n_rows)
        points = np.ascontiguousarray(latlon[valid])
        pipeline = lambda: heatmap.embedding(grid, folder / "geoclip.tif", wkt(CRS))  # noqa: E731
        bare_onnx = raw_ort(model, points)
        geoclip_torch = lambda: embed(reference, points, args.torch_batch)  # noqa: E731
        times = [(_timed(pipeline), bare_onnx(), _timed(geoclip_torch)) for _ in range(args.repeats)]
        best_pipeline, best_onnx, best_torch = (min(column) for column in zip(*times, strict=True))

    cells, n = grid.n_cells, len(points)
    print(f"GeoCLIP location encoder, {flops:,} FLOP/point; float32 matmul {machine / 1e9:.0f} GFLOP/s ({fastest}) "
          f"-> compute bound {machine / flops:,.0f} points/s; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads; best of {args.repeats}")
    print(f"grid {CRS} {grid.n_cols} x {grid.n_rows} = {cells:,} cells ({n:,} sent to the model)")
    print(f"{'path':46} {'seconds':>8} {'cells or pts/s':>15}")
    for name, seconds, count in (("heatmap pipeline (ONNX, row interp., parallel)", best_pipeline, cells),
                                 ("bare onnxruntime", best_onnx, n),
                                 (f"geoclip torch LocationEncoder (batch {args.torch_batch})", best_torch, n)):
        print(f"{name:46} {seconds:>8.2f} {count / seconds:>15,.0f}")
    print(f"pipeline cells/s / torch points/s = {(cells / best_pipeline) / (n / best_torch):.2f}; "
          f"bare ONNX / bare torch points/s = {best_torch / best_onnx:.2f}")


if __name__ == "__main__":
    main()
