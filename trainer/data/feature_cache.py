"""On-disk cache of frozen image features: a memory-mapped ``features.npy`` and ``key.json``.

The key names everything the features depend on (backbone, checkpoint hash, bands, tile size,
band statistics, data fingerprint); its hash names the cache folder, so a later run with the same
key memory-maps the stored features and computes nothing, and a different key never meets stale
features. A folder counts as complete only once ``key.json`` is written, after the features, and is
renamed into place whole; processes that compute the same key at once (DDP ranks) each write their
own temporary folder (:func:`qgis_csp_plugin.contract.temp_files.temp_folder`: removed on SIGTERM, and the
cache is swept of dead runs' temporaries first) and the first rename wins.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qgis_csp_plugin.contract import temp_files
from trainer.data.tiles import TileDataset
from trainer.errors import TrainerError


def file_hash(path: str | Path | None) -> str | None:
    """SHA-256 of a checkpoint file (``None`` for a random init)."""
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_fingerprint(dataset: TileDataset) -> str:
    """Hash of the items' files (path, byte size, modification time: each distinct file stat'ed once),
    band positions and crop offsets, in order."""
    files = []
    for name in dataset.files:
        path = os.fsdecode(name)
        stat = Path(path).stat()
        files.append(f"{path}|{stat.st_size}|{stat.st_mtime_ns}")
    digest = hashlib.sha256()
    for code, (y, x), band_set in zip(dataset.file, dataset.offsets, dataset.band_set, strict=True):
        digest.update(f"{files[code]}|{dataset.band_sets[band_set]}|{y}|{x}\n".encode())
    return digest.hexdigest()


def key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def cached_features(cache_dir: str | Path, key: dict, shape: tuple[int, int],
                    compute: Callable[[np.ndarray], None]) -> tuple[np.ndarray, bool]:
    """``(features, hit)``: the memory-mapped ``shape`` features of ``key`` under ``cache_dir``,
    written by ``compute(out)`` on a miss (into a temporary folder renamed when complete)."""
    folder = Path(cache_dir) / key_hash(key)
    if (folder / "key.json").is_file():
        stored = json.loads((folder / "key.json").read_text())
        features = np.load(folder / "features.npy", mmap_mode="r")
        if stored == key and features.shape == shape:
            return features, True
        raise TrainerError(f"feature cache {folder} holds other features than its key says: delete it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp_files.sweep_folder(folder.parent)
    partial = temp_files.temp_folder(folder)  # one per process (DDP ranks)
    try:
        out = np.lib.format.open_memmap(partial / "features.npy", mode="w+", dtype=np.float32, shape=shape)
        compute(out)
        out.flush()
        del out
        (partial / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
        try:
            partial.rename(folder)
        except OSError:  # another process wrote the same key first: keep its (identical) features
            if not (folder / "key.json").is_file():
                raise
    finally:
        temp_files.remove(partial)
    return np.load(folder / "features.npy", mmap_mode="r"), False
