"""CPU throughput of the imported Presto and Galileo encoders (the shipped ONNX files, onnxruntime).

In one run, on the same real EuroSAT patches (64 × 64 px, all 10 optical bands, month 7):

* **tiles** = ``OnnxModel.run`` on batches of ``--batch`` tiles (Presto embeds every pixel and returns the
  tile mean; the plugin runs it in slices of ``PIXELS_PER_RUN`` pixels);
* **pixels** (Presto) = the same pixels as 1 × 1 tiles, ``PIXELS_PER_RUN`` per run: per-pixel embeddings,
  what a dense map needs;
* **RGB only** = the same tiles with 7 of the 10 bands masked (fewer kept tokens, same compute: masking
  is a run-time input of one graph).

Each timing is the best of ``--repeats`` runs, the paths alternating, so all see the same load.

    nice .venv/bin/python benchmarks/optical_encoder_throughput.py [--tiles 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from qgis_csp_plugin.contract.bands import S2_OPTICAL_BANDS  # noqa: E402
from qgis_csp_plugin.contract.onnx_model import PIXELS_PER_RUN, OnnxModel  # noqa: E402
from trainer.data.bands import EUROSAT_BANDS  # noqa: E402

MODELS = {"Presto": REPO / "models" / "presto_encoder.onnx",
          "Galileo nano": REPO / "models" / "galileo_nano_encoder.onnx"}


def patches(n: int) -> np.ndarray:
    files = sorted((REPO / "data" / "eurosat_ms").glob("*/*.tif"))[::5][:n]
    order = [EUROSAT_BANDS.index(b) for b in S2_OPTICAL_BANDS]
    return np.stack([gdal.Open(str(f)).ReadAsArray()[order] for f in files]).astype(np.float32)


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=32, help="number of 64 x 64 px EuroSAT patches")
    parser.add_argument("--batch", type=int, default=16, help="tiles per OnnxModel.run call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    image = patches(args.tiles)
    n = len(image)
    latlon = np.tile(np.array([[48.0, 11.0]], np.float32), (n, 1))
    month = np.full(n, 7, np.int64)
    rgb_mask = np.array([b not in ("B02", "B03", "B04") for b in S2_OPTICAL_BANDS], np.float32)
    print(f"{n} EuroSAT patches of 64 x 64 px, batches of {args.batch} tiles, onnxruntime {args.threads} threads, "
          f"best of {args.repeats}")
    print(f"{'encoder':14} {'path':34} {'seconds':>8} {'tiles/s':>9} {'pixels/s':>11}")
    for name, path in MODELS.items():
        model = OnnxModel.load(path, threads=args.threads, device="cpu")

        def tiles(mask: np.ndarray, model=model) -> None:
            for start in range(0, n, args.batch):
                stop = start + args.batch
                model.run(image=image[start:stop] * (1 - mask)[None, :, None, None], band_mask=mask,
                          latlon=latlon[start:stop], month=month[start:stop])

        paths = {"tiles, all bands": lambda: tiles(np.zeros(len(S2_OPTICAL_BANDS), np.float32)),
                 "tiles, RGB only": lambda: tiles(rgb_mask)}
        if model.metadata.spectral.consumes == "pixels":
            pixels = image.transpose(0, 2, 3, 1).reshape(-1, len(S2_OPTICAL_BANDS), 1, 1)
            pixel_latlon = np.repeat(latlon, 64 * 64, axis=0)
            pixel_month = np.repeat(month, 64 * 64)

            def per_pixel(model=model, pixels=pixels, pixel_latlon=pixel_latlon, pixel_month=pixel_month) -> None:
                for start in range(0, len(pixels), PIXELS_PER_RUN):
                    stop = start + PIXELS_PER_RUN
                    model.run(image=pixels[start:stop], band_mask=np.zeros(len(S2_OPTICAL_BANDS), np.float32),
                              latlon=pixel_latlon[start:stop], month=pixel_month[start:stop])

            paths[f"pixels (1 x 1 tiles, {PIXELS_PER_RUN} per run)"] = per_pixel
        for run in paths.values():  # warm up the sessions
            run()
        times = [[timed(run) for run in paths.values()] for _ in range(args.repeats)]
        for label, seconds in zip(paths, (min(column) for column in zip(*times, strict=True)), strict=True):
            print(f"{name:14} {label:34} {seconds:>8.2f} {n / seconds:>9.1f} {n * 64 * 64 / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
