"""Class-prior heatmap throughput of a kNN prior (its points inside the graph) against the learned prior.

From one ``python -m trainer prior`` checkpoint that carries a kNN part, three ``location_prior`` files are
exported: the learned prior alone, the kNN prior alone and the hybrid (the checkpoint's own weight m, or 0.5).
Each runs through the plugin core's class-prior heatmap (cell centres → (lat, lon) → ONNX in parallel batches
→ one class's probability → GeoTIFF) over the same world grid; the three alternate in every repeat, so they
see the same load of the shared machine, and the medians and their ratios are printed (one run).

    nice -n 10 .venv/bin/python benchmarks/prior_throughput.py --checkpoint runs/prior_continents/final.ckpt
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from osgeo import osr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qgis_csp_plugin.contract.onnx_model import OnnxModel  # noqa: E402
from qgis_csp_plugin.core.batch_runner import default_workers  # noqa: E402
from qgis_csp_plugin.core.cell_latlon import latlon_transform  # noqa: E402
from qgis_csp_plugin.core.grid import CellGrid  # noqa: E402
from qgis_csp_plugin.core.heatmap import LocationHeatmap  # noqa: E402
from qgis_csp_plugin.core.tiling import Extent  # noqa: E402
from trainer.errors import TrainerError  # noqa: E402
from trainer.export.onnx_writer import export_onnx  # noqa: E402
from trainer.tasks.base import load_task  # noqa: E402

WORLD = Extent(-180, -90, 180, 90)


def variants(checkpoint: Path, folder: Path) -> dict[str, Path]:
    """The learned, kNN and hybrid priors of ``checkpoint`` as ONNX files in ``folder``."""
    task = load_task(checkpoint)
    knn, mix = task.knn, task.knn_mix
    if knn is None:
        raise TrainerError(f"{checkpoint} carries no kNN part (its recipe is learned): train with "
                           "--model.prior_recipe knn or hybrid")
    out = {}
    for name, (part, weight) in {"learned": (None, 0.0), "kNN": (knn, 1.0),
                                 "hybrid": (knn, mix if 0 < mix < 1 else 0.5)}.items():
        task.knn, task.knn_mix = part, weight
        out[name] = folder / f"{name}.onnx"
        export_onnx(task.export_spec("location_prior"), out[name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="prior's final.ckpt with a kNN part")
    parser.add_argument("--width", type=int, default=720, help="grid columns (rows: half), EPSG:4326 world")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    srs = osr.SpatialReference()
    srs.SetFromUserInput("EPSG:4326")
    wkt = srs.ExportToWkt()
    grid = CellGrid.from_shape(WORLD, args.width, args.width // 2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {name: OnnxModel.load(path) for name, path in variants(args.checkpoint, folder).items()}
        sizes = {name: model.path.stat().st_size / 1e6 for name, model in models.items()}
        heatmaps = {name: LocationHeatmap(model, latlon_transform(wkt, 0.01 * grid.cell_w))
                    for name, model in models.items()}
        seconds: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.repeats):
            for name, heatmap in heatmaps.items():
                start = time.perf_counter()
                heatmap.prior(grid, folder / f"{name}.tif", wkt, models[name].metadata.class_names[0])
                seconds[name].append(time.perf_counter() - start)
    knn = models["kNN"].metadata.location_encoder["params"]
    print(f"class-prior heatmap, EPSG:4326 world {grid.n_cols} x {grid.n_rows} = {grid.n_cells:,} cells, "
          f"{default_workers()} workers; kNN prior: {knn['points']:,} points, k = {knn['k']}; "
          f"median of {args.repeats} alternating repeats")
    print(f"{'prior':<10} {'file MB':>8} {'median s':>9} {'cells/s':>10} {'vs learned':>11}")
    learned = statistics.median(seconds["learned"])
    for name, times in seconds.items():
        median = statistics.median(times)
        rate, ratio = grid.n_cells / median, learned / median
        print(f"{name:<10} {sizes[name]:>8.2f} {median:>9.2f} {rate:>10,.0f} {ratio:>10.2f}x")


if __name__ == "__main__":
    main()
