"""Heatmap throughput: grid cells/s of each heatmap kind end to end vs raw onnxruntime, and the compute bound.

End to end = the plugin core pipeline without the Qt task: cell centres → (lat, lon) (GDAL/PROJ with
the round-trip validity check, interpolated along rows between exact cells) → ONNX in batches of
``heatmap.BATCH_SIZE`` → PCA/quantity → GeoTIFF rows.
Raw = onnxruntime alone, same batch size, on exactly the (lat, lon) points the pipeline sends to the model,
the faster of two ways: a plain ``session.run`` loop (onnxruntime's own intra-op threads), and the batches
run in parallel on single-threaded sessions (the pipeline's own strategy), without any other work.
Each timing is the best of 5 runs alternating pipeline and raw (the machine is shared, so both see
the same load). Two ratios: ``rate`` = pipeline cells/s ÷ raw points/s (the issue's definition) and
``time`` = raw seconds ÷ pipeline seconds (stricter where cells are off Earth: they cost transforms
and writing but no model run). They are equal when every cell is on Earth.
Compute bound = measured float32 matmul FLOP/s ÷ FLOPs per point of the encoder's MLP.

Model: the default location models in models/ if present, else a realistic stand-in built with the
trainer: sphereC+ encoding (32 scales, 192 features, CSP default family) → MLP 192→512→256 (the trainer's defaults),
plus a 10-class softmax head for the prior, exported through ``trainer.export``.

    .venv/bin/python benchmarks/heatmap_throughput.py [--width 1024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from osgeo import osr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qgis_csp_plugin.contract.onnx_model import OnnxModel  # noqa: E402
from qgis_csp_plugin.contract.pca import fit_pca  # noqa: E402
from qgis_csp_plugin.contract.schema import Kind  # noqa: E402
from qgis_csp_plugin.core.batch_runner import BATCH_SIZE, default_workers  # noqa: E402
from qgis_csp_plugin.core.cell_latlon import latlon_transform  # noqa: E402
from qgis_csp_plugin.core.default_models import find_default_model  # noqa: E402
from qgis_csp_plugin.core.grid import CellGrid  # noqa: E402
from qgis_csp_plugin.core.heatmap import LocationHeatmap  # noqa: E402
from qgis_csp_plugin.core.prediction_heatmap import (  # noqa: E402
    TileProbabilities,
    prediction_heatmap,
    tile_cells,
)
from qgis_csp_plugin.core.tiling import Extent  # noqa: E402

CLASSES = [f"class_{i}" for i in range(10)]
REPEATS = 5
EXTENTS = {"EPSG:4326": Extent(-180, -90, 180, 90),  # the world, no projection
           "EPSG:8857": Extent(-17_243_959, -8_392_928, 17_243_959, 8_392_928),  # the world, Equal Earth
           "EPSG:3413": Extent(-5_000_000, -5_000_000, 5_000_000, 5_000_000)}  # the Arctic, polar stereographic


def wkt(code: str) -> str:
    srs = osr.SpatialReference()
    srs.SetFromUserInput(code)
    return srs.ExportToWkt()


def stand_in_models(folder: Path) -> tuple[Path, Path, str]:
    """Export the realistic stand-in encoder (with a PCA basis fitted on a global grid) and prior."""
    from qgis_csp_plugin.contract.schema import ModelMetadata
    from trainer.encoders import build_location_encoder
    from trainer.export.onnx_writer import export_onnx
    from trainer.export.spec import ExportSpec

    torch.manual_seed(0)
    encoder = build_location_encoder("sphereC+", frequency_num=32).eval()
    config = {"name": "sphereC+", "params": {"frequency_num": 32}}
    lat, lon = np.meshgrid(np.arange(-89, 90, 2.0), np.arange(-179, 180, 2.0), indexing="ij")
    with torch.no_grad():
        sample = encoder(torch.tensor(np.stack([lat.ravel(), lon.ravel()], 1), dtype=torch.float32)).numpy()
    meta = ModelMetadata(kind="location_encoder", name="bench_encoder", location_encoder=config,
                         embedding_dim=256, pca_basis=fit_pca(sample))
    export_onnx(ExportSpec(encoder, (torch.zeros(4, 2),), ("latlon",), "embedding", meta, atol=1e-3),
                folder / "encoder.onnx")
    prior = torch.nn.Sequential(encoder, torch.nn.Linear(256, len(CLASSES)), torch.nn.Softmax(dim=1)).eval()
    meta = ModelMetadata(kind="location_prior", name="bench_prior_world", location_encoder=config,
                         class_names=CLASSES)
    export_onnx(ExportSpec(prior, (torch.zeros(4, 2),), ("latlon",), "probabilities", meta, atol=1e-3),
                folder / "prior.onnx")
    what = "stand-in sphereC+(32 scales, 192 features) → MLP 192→512→256 (+10-class head)"
    return folder / "encoder.onnx", folder / "prior.onnx", what


def mlp_flops_per_point(model: OnnxModel) -> int:
    """2 × multiply-adds of every MatMul/Gemm weight in the graph (encoding sin/cos not counted)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model.path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    total = 0
    for node in graph.node:
        if node.op_type in ("MatMul", "Gemm"):
            total += sum(2 * weights[name].size for name in node.input if name in weights and weights[name].ndim == 2)
    return total


def matmul_flops(folder: Path, size: int = 2048, repeats: int = 5) -> tuple[float, str]:
    """The machine's float32 matmul FLOP/s: the faster of numpy's BLAS and onnxruntime's MatMul
    (whose kernels run the encoders), ``size``³, best of ``repeats``; and which one it was."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    path = folder / "matmul.onnx"
    warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
    torch.onnx.export(FixedMatMul(torch.from_numpy(b)), (torch.from_numpy(a),), str(path), input_names=["a"],
                      output_names=["c"], opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rates = {}
    for name, run in (("numpy", lambda: a @ b), ("onnxruntime", lambda: session.run(None, {"a": a}))):
        run()
        rates[name] = 2 * size ** 3 / min(_timed(run) for _ in range(repeats))
    best = max(rates, key=rates.get)
    return rates[best], best


class FixedMatMul(torch.nn.Module):
    """``a @ b`` with ``b`` a constant, to export a plain MatMul."""

    def __init__(self, b: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("b", b)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a @ self.b


REFERENCE_FLOPS = 2 * (192 * 512 + 512 * 256)


def reference_mlp_rate(folder: Path, points: int = 64 * BATCH_SIZE) -> float:
    """Points/s of a bare 192→512→256 MLP (the issue's reference) under onnxruntime, same batch size."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(192, 512), torch.nn.LeakyReLU(), torch.nn.Linear(512, 256)).eval()
    path = folder / "mlp.onnx"
    warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
    torch.onnx.export(mlp, (torch.zeros(4, 192),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((BATCH_SIZE, 192), dtype=np.float32)
    return points / min(_timed(lambda: [session.run(None, {"x": x}) for _ in range(points // BATCH_SIZE)])
                        for _ in range(REPEATS))


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def raw_ort(model: OnnxModel, latlon: np.ndarray):
    """onnxruntime alone over ``latlon`` in the pipeline's batch size: a plain loop on the session
    (its own threads) and the batches in parallel on single-threaded sessions; times the faster."""
    output, starts = model.output_names[0], range(0, len(latlon), BATCH_SIZE)
    single = OnnxModel.load(model.path, threads=1).session

    def loop() -> None:
        for i in starts:
            model.session.run([output], {"latlon": latlon[i:i + BATCH_SIZE]})

    def parallel() -> None:
        with ThreadPoolExecutor(default_workers()) as pool:
            list(pool.map(lambda i: single.run([output], {"latlon": latlon[i:i + BATCH_SIZE]}), starts))

    return lambda: min(_timed(loop), _timed(parallel))


def paired(pipeline, raw, repeats: int = REPEATS) -> tuple[float, float]:
    """Best seconds of each, timed alternately so both see the same load of the shared machine."""
    times = [(_timed(pipeline), raw()) for _ in range(repeats)]
    return min(t[0] for t in times), min(t[1] for t in times)


def location_case(model: OnnxModel, kind: str, crs: str, width: int, out: Path) -> tuple[float, float, int, int]:
    """(pipeline seconds, raw ORT seconds on the same points, cells, points sent to the model)."""
    extent = EXTENTS[crs]
    grid = CellGrid.from_shape(extent, width, width // 2 if extent.width > extent.height else width)
    to_latlon = latlon_transform(wkt(crs), 0.01 * grid.cell_w)
    heatmap = LocationHeatmap(model, to_latlon)
    run = (lambda: heatmap.embedding(grid, out, wkt(crs))) if kind == "embedding" else (
        lambda: heatmap.prior(grid, out, wkt(crs), model.metadata.class_names[0]))
    latlon, valid = to_latlon.grid_rows(grid, 0, grid.n_rows)
    points = np.ascontiguousarray(latlon[valid])
    return (*paired(run, raw_ort(model, points)), grid.n_cells, len(points))


def prediction_case(prior: OnnxModel, n_side: int, out: Path) -> tuple[float, float, int, int]:
    """A Classify result of n_side² tiles (UTM 33N) fused with the prior, rasterised."""
    rows, cols = np.divmod(np.arange(n_side * n_side), n_side)
    size = 640.0
    xmin, ymax = 200_000 + cols * size, 5_500_000 - rows * size
    classes = prior.metadata.class_names
    probabilities = np.random.default_rng(0).dirichlet(np.ones(len(classes)), n_side * n_side).astype(np.float32)
    tiles = TileProbabilities(classes, probabilities, xmin, ymax - size, xmin + size, ymax)
    to_latlon = latlon_transform(wkt("EPSG:32633"), 0.01 * size)
    grid = tile_cells(tiles)[0]  # every lattice cell holds a tile here
    latlon, valid = to_latlon.grid_rows(grid, 0, grid.n_rows)
    timings = paired(lambda: prediction_heatmap(tiles, out, wkt("EPSG:32633"), "max probability", prior, to_latlon),
                     raw_ort(prior, np.ascontiguousarray(latlon[valid])))
    return (*timings, len(xmin), int(valid.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=2048,
                        help="grid width in cells (height = width / 2 for world extents)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        encoder_path = find_default_model(Kind.LOCATION_ENCODER)
        prior_path = find_default_model(Kind.LOCATION_PRIOR, "world")
        label = "default models in models/"
        if encoder_path is None or prior_path is None:
            encoder_path, prior_path, label = stand_in_models(folder)
        encoder, prior = OnnxModel.load(encoder_path), OnnxModel.load(prior_path)
        flops = mlp_flops_per_point(encoder)
        machine, fastest = matmul_flops(folder)
        bound = machine / flops
        print(f"models: {label}")
        print(f"float32 matmul: {machine / 1e9:.1f} GFLOP/s ({fastest}, 2048³); encoder MLP: {flops:,} FLOP/point "
              f"-> compute bound {bound:,.0f} points/s")
        print(f"{'case':34} {'cells':>9} {'model pts':>9} {'pipeline cells/s':>17} {'raw ORT pts/s':>14} "
              f"{'rate':>5} {'time':>5}")
        cases = [(f"embedding {crs}", lambda crs=crs: location_case(encoder, "embedding", crs, args.width,
                                                                   folder / "e.tif")) for crs in EXTENTS]
        cases += [(f"class prior {crs}", lambda crs=crs: location_case(prior, "prior", crs, args.width,
                                                                      folder / "p.tif")) for crs in EXTENTS]
        cases.append(("prediction (fused, UTM 33N)", lambda: prediction_case(prior, 500, folder / "t.tif")))
        raw_rates = []
        for name, case in cases:
            pipeline, raw, cells, points = case()
            raw_rates.append(points / raw)
            print(f"{name:34} {cells:>9,} {points:>9,} {cells / pipeline:>17,.0f} {points / raw:>14,.0f} "
                  f"{(cells / pipeline) / (points / raw):>5.2f} {raw / pipeline:>5.2f}")
        print(f"raw ORT / compute bound (encoder incl. its sin/cos encoding): {max(raw_rates[:2]) / bound:.2f}")
        mlp_rate = reference_mlp_rate(folder)
        print(f"reference bare MLP 192→512→256 under ORT: {mlp_rate:,.0f} points/s = "
              f"{mlp_rate * REFERENCE_FLOPS / machine:.2f} of its own bound ({REFERENCE_FLOPS:,} FLOP/point)")


if __name__ == "__main__":
    main()
