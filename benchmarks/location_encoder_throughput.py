"""Points/s of every location encoder, torch CPU vs onnxruntime CPU, measured in one run.

    python benchmarks/location_encoder_throughput.py [--batch 65536] [--threads 1] [--markdown PATH]

Every encoder gets the same MLP (one hidden layer of ``--hidden-dim``, embedding
``--hidden-dim``), eval mode; inputs are real places (data/points/cities15000.csv.gz)
resampled to ``--batch`` points. Each figure is the median of ``--repeats`` timed passes
after one warm-up pass; both runtimes use ``--threads`` intra-op threads.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qgis_csp_plugin.contract.schema import ModelMetadata  # noqa: E402
from trainer.encoders import available_encoders, build_location_encoder  # noqa: E402
from trainer.export.onnx_writer import export_onnx  # noqa: E402
from trainer.export.spec import ExportSpec  # noqa: E402

CITIES = REPO / "data" / "points" / "cities15000.csv.gz"


def real_points(batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` (lat, lon) rows drawn with replacement from the GeoNames places."""
    places = pd.read_csv(CITIES, usecols=["lat", "lon"])[["lat", "lon"]].to_numpy(np.float32)
    return places[np.random.default_rng(seed).integers(0, len(places), batch)]


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, points: np.ndarray, args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    torch.manual_seed(0)
    extra = {"train_locations": points[:20000], "num_centres": 256} if name == "rbf" else {}
    encoder = build_location_encoder(name, hidden_dim=args.hidden_dim, out_dim=args.hidden_dim,
                                     num_hidden_layers=1, **extra).eval()
    meta = ModelMetadata(kind="location_encoder", name=name, location_encoder=encoder.config(),
                         embedding_dim=encoder.out_dim)
    path = workdir / f"{name}.onnx"
    export_onnx(ExportSpec(encoder, (torch.zeros(2, 2),), ("latlon",), "embedding", meta), path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = args.threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tensor = torch.from_numpy(points)

    def torch_pass() -> object:
        with torch.inference_mode():
            return encoder(tensor)

    torch_s = median_seconds(torch_pass, args.repeats)
    ort_s = median_seconds(lambda: session.run(["embedding"], {"latlon": points}), args.repeats)
    return {"encoder": name, "pe_dim": encoder.encoding.dim, "torch": len(points) / torch_s,
            "ort": len(points) / ort_s}


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| encoder | PE dim | torch CPU (points/s) | onnxruntime CPU (points/s) | ORT/torch |",
             "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['encoder']} | {row['pe_dim']} | {row['torch']:,.0f} | {row['ort']:,.0f} | "
                     f"{row['ort'] / row['torch']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table (and the setup) to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    points = real_points(args.batch)
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in available_encoders():
            rows.append(measure(name, points, args, Path(tmp)))
            print(f"measured {name}", file=sys.stderr, flush=True)
    setup = (f"batch {args.batch:,} real (lat, lon) points, MLP {args.hidden_dim}-{args.hidden_dim} "
             f"(one hidden layer), {args.threads} thread(s), median of {args.repeats}; "
             f"torch {torch.__version__}, onnxruntime {ort.__version__}, {platform.machine()} "
             f"with {os.cpu_count()} CPU(s), load average {load:.1f} at start")
    print(setup)
    print(table(rows))
    if args.markdown:
        command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        args.markdown.write_text(
            "# Location encoder throughput (CPU)\n\n"
            f"Command: `{command}`\n\n{setup}.\n\n{table(rows)}\n\n"
            "torch runs the eager module (including its input check), onnxruntime the exported ONNX "
            "graph; both compute (lat, lon) degrees → position encoding → MLP. ORT/torch > 1 means "
            "onnxruntime (what the QGIS plugin uses) is faster. Figures from one run on a shared "
            "machine: compare ratios within a run, not across runs.\n"
        )


if __name__ == "__main__":
    main()
