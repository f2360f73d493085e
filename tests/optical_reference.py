"""The authors' own Presto and Galileo code (``../shared/pretrained/*/reference_single_file_*.py``, loaded by
file path, tests only) fed as the authors feed it, for parity tests of our encoders.

Inputs are raw Sentinel-2-scaled values of our 10 optical bands ``(N, 10, H, W)`` and the names of the
bands that are missing; the reference inputs are built the way the authors' pipelines build them
(Presto: ``construct_single_presto_input`` and ``S1_S2_ERA5_SRTM.normalize``; Galileo: ``Normalizer``
with the pre-training statistics and ``GalileoWrapper``'s masks), then pooled as they pool.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from qgis_csp_plugin.contract.bands import S2_OPTICAL_BANDS

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO.parent / "shared" / "pretrained"
PRESTO_DIR, GALILEO_DIR = PRETRAINED / "presto", PRETRAINED / "galileo_nano"
REFERENCE_FILES = (PRESTO_DIR / "reference_single_file_presto.py", GALILEO_DIR / "reference_single_file_galileo.py")
#: Our band names → the authors' (B02 → B2).
AUTHOR_NAMES = {band: band if band == "B8A" else "B" + band[1:].lstrip("0") for band in S2_OPTICAL_BANDS}
PRESTO_BANDS = ["VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "temperature_2m",
                "total_precipitation", "elevation", "slope", "NDVI"]
GROUPS = {"RGB": ("B02", "B03", "B04"), "Red_Edge": ("B05", "B06", "B07"), "NIR_10m": ("B08",),
          "NIR_20m": ("B8A",), "SWIR": ("B11", "B12")}


def available() -> bool:
    return all(path.is_file() for path in REFERENCE_FILES) and importlib.util.find_spec("einops") is not None


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    total = nir + red
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (nir - red) / total, 0.0)


class PrestoReference:
    """The authors' Presto encoder: per-pixel embeddings, averaged over each tile."""

    def __init__(self) -> None:
        module = _load(REFERENCE_FILES[0], "_reference_presto")
        import json

        config = json.loads((PRESTO_DIR / "default_config.json").read_text())
        model = module.Presto.construct(**config)
        model.load_state_dict(torch.load(PRESTO_DIR / "default_model.pt", map_location="cpu", weights_only=True))
        self.encoder = model.encoder.eval()

    @torch.no_grad()
    def __call__(self, image: np.ndarray, missing: list[str], latlon: np.ndarray, month: np.ndarray) -> np.ndarray:
        n, _, h, w = image.shape
        pixels = image.transpose(0, 2, 3, 1).reshape(-1, len(S2_OPTICAL_BANDS)).astype(np.float64) / 10000
        x = np.zeros((len(pixels), 1, len(PRESTO_BANDS)), np.float32)
        mask = np.ones_like(x)
        for i, band in enumerate(S2_OPTICAL_BANDS):
            if band not in missing:
                x[:, 0, PRESTO_BANDS.index(AUTHOR_NAMES[band])] = pixels[:, i]
                mask[:, 0, PRESTO_BANDS.index(AUTHOR_NAMES[band])] = 0
        if "B08" not in missing and "B04" not in missing:
            x[:, 0, -1] = _ndvi(x[:, 0, PRESTO_BANDS.index("B8")], x[:, 0, PRESTO_BANDS.index("B4")])
            mask[:, 0, -1] = 0
        per_pixel = h * w
        embeddings = self.encoder(
            torch.from_numpy(x), dynamic_world=torch.full((len(x), 1), 9, dtype=torch.long),
            latlons=torch.from_numpy(np.repeat(latlon.astype(np.float32), per_pixel, axis=0)),
            mask=torch.from_numpy(mask), month=torch.from_numpy(np.repeat(month - 1, per_pixel)).long())
        return embeddings.numpy().reshape(n, per_pixel, -1).mean(axis=1)


class GalileoReference:
    """The authors' Galileo encoder and ``average_tokens`` (groups and location as ``GalileoWrapper`` masks them,
    NDVI and the location token optional)."""

    def __init__(self) -> None:
        import json

        self.module = _load(REFERENCE_FILES[1], "_reference_galileo")
        self.encoder = self.module.Encoder.load_from_folder(GALILEO_DIR, torch.device("cpu")).eval()
        stats = json.loads((GALILEO_DIR / "normalization.json").read_text())["13"]
        self.stats = stats

    @torch.no_grad()
    def __call__(self, image: np.ndarray, missing: list[str], month: np.ndarray, patch_size: int = 8,
                 latlon: np.ndarray | None = None, use_ndvi: bool = False) -> np.ndarray:
        ref = self.module
        n, _, h, w = image.shape
        bands = ref.SPACE_TIME_BANDS
        raw = image.transpose(0, 2, 3, 1).astype(np.float64)
        s_t_x = np.zeros((n, h, w, 1, len(bands)), np.float32)
        for i, band in enumerate(S2_OPTICAL_BANDS):
            k = bands.index(AUTHOR_NAMES[band])
            mean, std = self.stats["mean"][k], self.stats["std"][k]
            s_t_x[..., 0, k] = (raw[..., i] - (mean - 2 * std)) / (4 * std)
        s_t_x[..., 0, bands.index("NDVI")] = _ndvi(raw[..., S2_OPTICAL_BANDS.index("B08")],
                                                   raw[..., S2_OPTICAL_BANDS.index("B04")])
        groups = list(ref.SPACE_TIME_BANDS_GROUPS_IDX)
        s_t_m = np.ones((n, h, w, 1, len(groups)), np.float32)
        for name, members in GROUPS.items():
            if not set(members) & set(missing):
                s_t_m[..., groups.index(f"S2_{name}")] = 0
        if use_ndvi and not {"B08", "B04"} & set(missing):
            s_t_m[..., groups.index("NDVI")] = 0
        st_x = np.zeros((n, len(ref.STATIC_BANDS)), np.float32)
        st_m = np.ones((n, len(ref.STATIC_BAND_GROUPS_IDX)), np.float32)
        if latlon is not None:
            lat, lon = np.radians(latlon[:, 0]), np.radians(latlon[:, 1])
            xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
            for k, name in enumerate(ref.LOCATION_BANDS):
                st_x[:, ref.STATIC_BANDS.index(name)] = xyz[:, k]
            st_m[:, list(ref.STATIC_BAND_GROUPS_IDX).index("location")] = 0
        tensors = [torch.from_numpy(a) for a in (
            s_t_x, np.zeros((n, h, w, len(ref.SPACE_BANDS)), np.float32),
            np.zeros((n, 1, len(ref.TIME_BANDS)), np.float32), st_x, s_t_m,
            np.ones((n, h, w, len(ref.SPACE_BAND_GROUPS_IDX)), np.float32),
            np.ones((n, 1, len(ref.TIME_BAND_GROUPS_IDX)), np.float32), st_m)]
        months = torch.from_numpy(np.asarray(month) - 1).long().reshape(n, 1)
        out = self.encoder(*tensors, months, patch_size=patch_size)
        return self.encoder.average_tokens(*out[:8]).numpy()
