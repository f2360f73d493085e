"""Trainer data path: pre-flight speed, loader vs raw decode, shards vs files, peak RSS of fit epochs vs N.

    nice -n 10 .venv/bin/python benchmarks/data_throughput.py [--sizes 10000 100000] [--workers 2]

Data: real 64 px RGB tiles cut from the scenes in ``data/scenes`` and from the EuroSAT patches
(B04, B03, B02), written as GeoTIFF files, and listed over in a table (``image_path, lat, lon``) to
reach ``N`` rows (the files are replicated by reference, so they sit in the page cache: this measures
decode and loader overhead, not disk). Sections (``--skip`` any of them):

- ``preflight``: seconds of the header pre-flight over N rows, rows sharing the files and rows of
  N distinct files (hard links);
- ``rate``: images/s of the trainer's ``TileDataset`` + DataLoader vs raw rasterio window reads of
  the same crops in a process pool of the same size, page cache warm, repeated, medians;
- ``shards``: images/s of one epoch from a litdata shard set vs from the loose files, at each N;
- ``rss``: peak RSS and peak PSS of the process tree (main process + loader workers) and wall time
  of one ``moco fit`` and one ``csp fit`` epoch at each N, from the loose files and from shards
  (``benchmarks/configs``: tiny backbone, torch on 1 thread; the data path is what is measured).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
CONFIGS = REPO / "benchmarks" / "configs"
#: torch intra-op threads of the fit runs: the loader workers need the other cores (2 threads next to
#: 2 workers on 2 cores doubled the CPU time of a step, spinning).
TORCH_THREADS = 1


def write_tiles(folder: Path) -> pd.DataFrame:
    """Real 64 px RGB tiles (uint16) as GeoTIFFs; one row per file with its centre (lat, lon)."""
    from trainer.data.catalog import eurosat_records
    from trainer.data.rasters import centre_latlon

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


def table(tiles: pd.DataFrame, n: int, folder: Path, distinct: bool = False) -> Path:
    """A table of ``n`` rows listing ``tiles`` over; ``distinct``: each row its own file (a hard link)."""
    rows = tiles.iloc[np.arange(n) % len(tiles)].reset_index(drop=True)
    if distinct:
        links = folder / f"links_{n}"
        links.mkdir()
        paths = [str(links / f"{i:07d}.tif") for i in range(n)]
        for source, link in zip(rows["image_path"], paths, strict=True):
            os.link(source, link)
        rows = rows.assign(image_path=paths)
    path = folder / f"table_{n}{'_distinct' if distinct else ''}.csv"
    rows.to_csv(path, index=False)
    return path


def preflight_seconds(source: Path) -> float:
    from trainer.data.preflight import preflight
    from trainer.data.registry import image_records

    records = image_records(str(source), RGB)
    start = time.perf_counter()
    preflight(records, RGB, 64, what=source.name)
    return time.perf_counter() - start


def _raw(item: tuple[str, int, int]) -> tuple:
    """Plain rasterio: open the file, read the window, as float32 (what a hand-written loader does)."""
    with rasterio.open(item[0]) as ds:
        return ds.read([1, 2, 3], window=Window(item[2], item[1], 64, 64)).astype(np.float32).shape


def _raw_pixels_only(item: tuple[str, int, int]) -> tuple:
    """:func:`_raw` with the trainer's GDAL open settings (no georeferencing read): the loader's own overhead."""
    from trainer.data.rasters import pixels_only

    with pixels_only():
        return _raw(item)


def rates(source: Path, workers: int, items: int, repeats: int) -> list[tuple[float, float, float]]:
    """``repeats`` back-to-back triples (trainer, plain rasterio, rasterio with the trainer's GDAL open
    settings: images/s) over the same ``items`` crops with ``workers`` processes each, after one warm-up
    pass (page cache warm). The raw reads return nothing to the parent; the loader ships batches."""
    from torch.utils.data import Subset

    from trainer.data.image_datamodule import ImageDataModule
    from trainer.data.tiles import loader

    data = ImageDataModule(sources=[str(source)], bands=RGB, table_bands=RGB, tile_size=64, val_fraction=0,
                           test_fraction=0, batch_size=64, num_workers=workers)
    data.setup("fit")
    dataset = data.datasets["train"]
    picked = np.random.default_rng(0).permutation(len(dataset))[:items]
    subset = Subset(dataset, picked.tolist())
    todo = [(dataset.path(i), *map(int, dataset.offsets[i])) for i in picked]

    def trainer_rate() -> float:
        start = time.perf_counter()
        n = sum(len(batch["image"]) for batch in loader(subset, 64, num_workers=workers))
        return n / (time.perf_counter() - start)

    def raw_rate(read: Callable) -> float:
        start = time.perf_counter()
        with Pool(workers) as pool:
            n = len(pool.map(read, todo, chunksize=64))
        return n / (time.perf_counter() - start)

    trainer_rate(), raw_rate(_raw)
    return [(trainer_rate(), raw_rate(_raw), raw_rate(_raw_pixels_only)) for _ in range(repeats)]


def build(source: Path, folder: Path, workers: int) -> Path:
    from trainer.data.shard_build import build_shards

    return build_shards(str(source), folder / f"shards_{source.stem}", RGB, 64, RGB, workers=workers)


def shard_rate(source: Path, shards: Path, workers: int) -> tuple[float, float]:
    """(shards images/s, loose files images/s): one full training epoch of each, worker start included."""
    from trainer.data.image_datamodule import ImageDataModule

    result = []
    for src in (f"shards:{shards}", str(source)):
        data = ImageDataModule(sources=[src], bands=RGB, table_bands=RGB, tile_size=64, val_fraction=0,
                               test_fraction=0, batch_size=64, num_workers=workers)
        data.setup("fit")
        start = time.perf_counter()
        n = sum(len(b["image"]) for b in data.train_dataloader())
        result.append(n / (time.perf_counter() - start))
    return result[0], result[1]


def _pss(pid: int) -> tuple[int, int]:
    """(proportional set size, its part in file-backed pages) of a process in bytes, from Linux
    ``smaps_rollup``: a page shared by k processes counts 1/k in each, so a sum over processes counts
    every page once; file-backed pages (libraries, memory-mapped shard or cache files) are page cache
    the kernel can reclaim, the rest (heap, shared-memory batches) is what a process really holds."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            name, value = line.split()[:2]
            if name in ("Pss:", "Pss_File:"):
                fields[name] = int(value) * 1024
    return fields["Pss:"], fields.get("Pss_File:", 0)


def peak_memory(command: list[str]) -> tuple[float, float, float, float, int]:
    """(peaks summed over the process tree, MiB: RSS, PSS, PSS without file-backed pages; wall seconds;
    exit code) of ``command``, sampled every 0.1 s."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": str(TORCH_THREADS)})
    peak_rss = peak_pss = peak_held = 0
    root = psutil.Process(process.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss, peak_held
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak_rss = max(peak_rss, sum(p.memory_info().rss for p in tree))
                pss = [_pss(p.pid) for p in tree]
                peak_pss = max(peak_pss, sum(total for total, _ in pss))
                peak_held = max(peak_held, sum(total - file for total, file in pss))
            except (psutil.Error, OSError):
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
    return peak_rss / 2**20, peak_pss / 2**20, peak_held / 2**20, time.perf_counter() - start, process.returncode


def fit_command(task: str, source: str, runs: Path) -> list[str]:
    """``moco fit`` or ``csp fit`` for one epoch over ``source`` with the benchmark config of ``task``."""
    command = [sys.executable, "-m", "trainer", task, "fit", "--config", str(CONFIGS / f"{task}_data_path.yaml"),
               "--data.sources", f"[{source}]", "--data.bands", "[red,green,blue]", "--data.table_bands",
               "[red,green,blue]", "--trainer.default_root_dir", str(runs)]
    return command + (["--data.feature_cache_dir", str(runs / "features")] if task == "csp" else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate-items", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["preflight", "rate", "shards", "rss"])
    parser.add_argument("--tasks", nargs="*", default=["moco", "csp"], choices=["moco", "csp"])
    parser.add_argument("--kinds", nargs="*", default=["loose", "shards"], choices=["loose", "shards"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tiles").mkdir()
        tiles = write_tiles(folder / "tiles")
        print(f"data: {len(tiles)} real 64 px RGB tiles (Landsat 8 + Landsat 7 scenes, EuroSAT B04/B03/B02) "
              f"written as GeoTIFFs, listed over to reach N rows; {args.workers} worker processes", flush=True)
        sources = {n: table(tiles, n, folder) for n in args.sizes}
        large = args.sizes[1]
        if "preflight" not in args.skip:
            distinct = table(tiles, large, folder, distinct=True)
            print(f"pre-flight N={large}: rows sharing {len(tiles)} files {preflight_seconds(sources[large]):.1f} s, "
                  f"{large} distinct files {preflight_seconds(distinct):.1f} s (goal: well under a minute)",
                  flush=True)
        if "rate" not in args.skip:
            runs = np.array(rates(sources[args.sizes[0]], args.workers, args.rate_items, args.repeats))
            trainer, plain, same = np.median(runs, axis=0)
            print(f"(a) {args.rate_items} crops, {args.repeats} repeats, medians: trainer DataLoader {trainer:.0f} "
                  f"img/s; plain rasterio {plain:.0f} img/s, ratio {np.median(runs[:, 0] / runs[:, 1]):.2f}; "
                  f"rasterio with the trainer's open settings {same:.0f} img/s, ratio "
                  f"{np.median(runs[:, 0] / runs[:, 2]):.2f} (goal >= 0.9)", flush=True)
        shards = {}
        if "shards" not in args.skip or ("rss" not in args.skip and "shards" in args.kinds):
            for n, source in sources.items():
                start = time.perf_counter()
                shards[n] = build(source, folder, args.workers)
                print(f"shards N={n}: built in {time.perf_counter() - start:.0f} s", flush=True)
        if "shards" not in args.skip:
            for n, source in sources.items():
                from_shards, loose = shard_rate(source, shards[n], args.workers)
                print(f"(c) N={n}: shards {from_shards:.0f} img/s, loose GeoTIFFs {loose:.0f} img/s "
                      f"(x{from_shards / loose:.2f})", flush=True)
        if "rss" not in args.skip:
            for task in args.tasks:
                for kind in args.kinds:
                    peaks = []
                    for n, source in sources.items():
                        src = str(source) if kind == "loose" else f"shards:{shards[n]}"
                        *peak, seconds, code = peak_memory(fit_command(task, src, folder / f"runs_{task}_{kind}_{n}"))
                        peaks.append(np.array(peak))
                        print(f"(b) {task} fit one epoch, {kind}, N={n}: peak RSS {peak[0]:.0f} MiB, PSS {peak[1]:.0f} "
                              f"MiB, PSS without file pages {peak[2]:.0f} MiB; {seconds:.0f} s, exit {code}",
                              flush=True)
                    growth = peaks[1] - peaks[0]
                    print(f"(b) {task} fit, {kind}: growth from N={args.sizes[0]} to N={large}: RSS {growth[0]:+.0f} "
                          f"MiB, PSS {growth[1]:+.0f} MiB, PSS without file pages {growth[2]:+.0f} MiB "
                          f"(goal < 150 MiB)", flush=True)


if __name__ == "__main__":
    main()
