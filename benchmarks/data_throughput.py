"""Trainer data path: dataset + DataLoader vs raw decode, peak RSS of fit epochs at two sizes, shards vs files.

    nice -n 10 .venv/bin/python benchmarks/data_throughput.py [--sizes 10000 100000] [--workers 2]

Data: real 64 px RGB tiles cut from the Landsat scenes in ``data/scenes`` and from the EuroSAT
patches (B04, B03, B02), written as GeoTIFF files, and listed ``N`` times over in a table
(``image_path, lat, lon``) to reach ``N`` rows (the files are replicated by reference).
(a) images/s of ``ImageDataModule``'s train DataLoader vs plain rasterio window reads of the same
crops in a process pool of the same size → ratio (median of back-to-back pairs); (b) peak RSS
(process tree) of one ``moco fit`` epoch and of one ``csp fit`` epoch at each size; (c) images/s of
the same items from a litdata shard set vs from the loose files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import rasterio
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
RGB = ["red", "green", "blue"]


def write_tiles(folder: Path) -> pd.DataFrame:
    """Real 64 px RGB tiles (uint16) as GeoTIFFs; one row per file with its centre (lat, lon)."""
    from trainer.data.rasters import centre_latlon
    from trainer.data.sources import eurosat_records

    sources = [(REPO / "data/scenes/LC08_L1TP_224078_20200518_RGB.tif", [1, 2, 3]),
               (REPO / "data/scenes/RGB.byte.tif", [1, 2, 3])]
    sources += [(Path(p), [4, 3, 2]) for p in eurosat_records()["image_path"]]
    rows = []
    for path, bands in sources:
        with rasterio.open(path) as ds:
            for y in range(0, ds.height - 63, 64):
                for x in range(0, ds.width - 63, 64):
                    window = Window(x, y, 64, 64)
                    pixels = ds.read(bands, window=window).astype(np.uint16)
                    out = folder / f"tile_{len(rows):05d}.tif"
                    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 3, "dtype": "uint16",
                               "crs": ds.crs, "transform": ds.window_transform(window), "compress": "deflate"}
                    with rasterio.open(out, "w", **profile) as dst:
                        dst.write(pixels)
                    lat, lon = centre_latlon(out)
                    rows.append({"image_path": str(out), "lat": lat, "lon": lon})
    return pd.DataFrame(rows)


def table(tiles: pd.DataFrame, n: int, folder: Path) -> Path:
    path = folder / f"table_{n}.csv"
    tiles.iloc[np.arange(n) % len(tiles)].to_csv(path, index=False)
    return path


def _raw(item: tuple[str, int, int]) -> int:
    with rasterio.open(item[0]) as ds:
        return ds.read([1, 2, 3], window=Window(item[2], item[1], 64, 64)).astype(np.float32).size


def rates(source: Path, workers: int, items: int) -> tuple[float, float]:
    """(trainer images/s, raw rasterio images/s) over the first ``items`` rows, ``workers`` processes."""
    from trainer.data.image_datamodule import ImageDataModule

    data = ImageDataModule(sources=[str(source)], bands=RGB, table_bands=RGB, tile_size=64, val_fraction=0,
                           test_fraction=0, batch_size=64, num_workers=workers, persistent_workers=False)
    data.setup("fit")
    dataset = data.datasets["train"]
    start = time.perf_counter()
    n = 0
    for batch in data.train_dataloader():
        n += len(batch["image"])
        if n >= items:
            break
    trainer_rate = n / (time.perf_counter() - start)
    todo = [(dataset.paths[i], *map(int, dataset.offsets[i])) for i in range(n)]
    start = time.perf_counter()
    with Pool(workers) as pool:
        pool.map(_raw, todo, chunksize=64)
    return trainer_rate, n / (time.perf_counter() - start)


def shard_rate(source: Path, folder: Path, workers: int) -> tuple[float, float]:
    """(shards images/s, loose files images/s) over all rows of ``source``."""
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.data.shards import build_shards

    out = folder / f"shards_{source.stem}"
    if not out.exists():
        build_shards(str(source), out, RGB, 64, RGB, workers=workers)
    result = []
    for src in (f"shards:{out}", str(source)):
        data = ImageDataModule(sources=[src], bands=RGB, table_bands=RGB, tile_size=64, val_fraction=0,
                               test_fraction=0, batch_size=64, num_workers=workers)
        data.setup("fit")
        start = time.perf_counter()
        n = sum(len(b["image"]) for b in data.train_dataloader())
        result.append(n / (time.perf_counter() - start))
    return result[0], result[1]


def peak_rss(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS of the process tree in MiB, wall seconds, exit code) of ``command``."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, root = 0, psutil.Process(process.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=sample)
    start = time.perf_counter()
    thread.start()
    _, err = process.communicate()
    stop.set()
    thread.join()
    if process.returncode:
        print(err[-2000:], file=sys.stderr)
    return peak / 2**20, time.perf_counter() - start, process.returncode


def fit_commands(source: Path, runs: Path, workers: int) -> dict[str, list[str]]:
    common = ["--data.sources", f"[{source}]", "--data.bands", "[red,green,blue]", "--data.table_bands",
              "[red,green,blue]", "--data.num_workers", str(workers), "--trainer.max_epochs", "1",
              "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
    moco = [sys.executable, "-m", "trainer", "moco", "fit", "--config", "trainer/configs/moco_eurosat_small.yaml",
            *common, "--data.tile_size", "64", "--data.batch_size", "64", "--data.val_fraction", "0",
            "--data.test_fraction", "0", "--trainer.default_root_dir", str(runs / "moco"),
            "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false"]
    csp = [sys.executable, "-m", "trainer", "csp", "fit", "--config", "trainer/configs/csp_eurosat.yaml", *common,
           "--data.tile_size", "64", "--data.feature_cache_dir", str(runs / "features"),
           "--trainer.default_root_dir", str(runs / "csp"), "--trainer.callbacks", "[]",
           "--trainer.enable_checkpointing", "false", "--trainer.check_val_every_n_epoch", "1"]
    return {"moco fit": moco, "csp fit": csp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate-items", type=int, default=4096)
    parser.add_argument("--skip", nargs="*", default=[], choices=["rate", "rss", "shards"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tiles").mkdir()
        tiles = write_tiles(folder / "tiles")
        print(f"data: {len(tiles)} real 64 px RGB tiles (Landsat 8 + Landsat 7 scenes, EuroSAT B04/B03/B02) "
              f"written as GeoTIFFs, listed over to reach N rows; {args.workers} worker processes")
        small, large = (table(tiles, n, folder) for n in args.sizes)
        if "rate" not in args.skip:
            pairs = [rates(small, args.workers, args.rate_items) for _ in range(3)]
            ratio = float(np.median([t / r for t, r in pairs]))
            print(f"(a) trainer DataLoader {np.median([t for t, _ in pairs]):.0f} img/s, raw rasterio "
                  f"{np.median([r for _, r in pairs]):.0f} img/s: ratio {ratio:.2f} (goal >= 0.9)")
        if "shards" not in args.skip:
            shards, loose = shard_rate(small, folder, args.workers)
            print(f"(c) N={args.sizes[0]}: shards {shards:.0f} img/s, loose GeoTIFFs {loose:.0f} img/s "
                  f"(x{shards / loose:.2f})")
        if "rss" not in args.skip:
            for name in ("moco fit", "csp fit"):
                peaks = []
                for n, source in zip(args.sizes, (small, large), strict=True):
                    rss, seconds, code = peak_rss(fit_commands(source, folder / f"runs_{n}", args.workers)[name])
                    peaks.append(rss)
                    print(f"(b) {name} one epoch, N={n}: peak RSS {rss:.0f} MiB, {seconds:.0f} s, exit {code}")
                print(f"(b) {name}: growth {peaks[1] - peaks[0]:.0f} MiB from N={args.sizes[0]} to "
                      f"N={args.sizes[1]} (goal < 150 MiB)")


if __name__ == "__main__":
    main()
