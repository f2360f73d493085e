"""Import the released Presto and Galileo encoders as self-describing ONNX ``image_encoder`` models.

``python -m trainer import presto|galileo``: load the authors' state dict into our encoder
(:mod:`.presto_encoder`, :mod:`.galileo_encoder`), export the graph that takes raw Sentinel-2 values,
a band mask, the tile centres and the month (schema v3, docs/model_format.md), check torch against
onnxruntime (<= :data:`PARITY_BOUND`) and write the file atomically. Parity with the authors' own code
on real images is checked by the tests (tests/test_trainer/test_optical_import.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from qgis_csp_plugin.contract.bands import NDVI_BANDS, S2_BAND_GROUPS, S2_WAVELENGTHS_NM
from qgis_csp_plugin.contract.schema import (
    BAND_MASK_INPUT,
    EMBEDDING_OUTPUT,
    IMAGE_INPUT,
    LATLON_INPUT,
    MONTH_INPUT,
    Kind,
    ModelMetadata,
    Normalization,
    Spectral,
)
from trainer.export.onnx_writer import ParityReport, export_onnx
from trainer.export.spec import ExportSpec
from trainer.pretrained.galileo_encoder import BASE_GSD_M, GalileoEncoder, GalileoImageGraph, band_statistics
from trainer.pretrained.optical_inputs import BANDS, PRETRAINING_MEAN, PRETRAINING_STD
from trainer.pretrained.presto_encoder import REFLECTANCE_SCALE, PrestoEncoder, PrestoImageGraph
from trainer.pretrained.release_folder import PRETRAINED, REPO, ReleaseFolder, open_release

PARITY_BOUND = 1e-4
TILE_SIZE = 64  # default tile: 640 m at 10 m, the EuroSAT patch
DEFAULT_SOURCES = {"presto": PRETRAINED / "presto", "galileo": PRETRAINED / "galileo_nano"}
DEFAULT_OUTPUTS = {"presto": REPO / "models" / "presto_encoder.onnx",
                   "galileo": REPO / "models" / "galileo_nano_encoder.onnx"}
CITATIONS = {
    "presto": "Tseng, Cartuyvels, Zvonkov, Purohit, Rolnick, Kerner: Lightweight, Pre-trained Transformers for "
              "Remote Sensing Timeseries. arXiv:2304.14065 (2023)",
    "galileo": "Tseng et al.: Galileo: Learning Global & Local Features of Many Remote Sensing Modalities. "
               "arXiv:2502.09356 (2025)",
}
SOURCES = {
    "presto": {"url": "https://github.com/nasaharvest/presto", "commit": "13173d028f035abcbcc3b13829314323a5c15d02",
               "file": "data/default_model.pt"},
    "galileo": {"url": "https://github.com/nasaharvest/galileo", "commit": "0f0b5b95ac81acef4b74cf4686dc877202f4541b",
                "file": "data/models/nano/encoder.pt"},
}


@dataclass
class ImportReport:
    """What was written and how closely onnxruntime reproduces our torch encoder."""

    out: Path
    name: str
    parameters: int
    parity: ParityReport

    def __str__(self) -> str:
        return (f"wrote {self.out} ({self.out.stat().st_size / 1e6:.1f} MB, {self.parameters:,} encoder parameters) "
                f"from the released {self.name} weights; {self.parity}")


def _spectral(consumes: str, patch_size: int | None, derived: bool) -> Spectral:
    return Spectral(consumes=consumes, wavelengths_nm=[S2_WAVELENGTHS_NM[b] for b in BANDS],
                    band_groups={name: list(bands) for name, bands in S2_BAND_GROUPS.items()},
                    derived={"NDVI": list(NDVI_BANDS)} if derived else {}, patch_size=patch_size, timesteps=1)


def _normalization(mean: list[float], std: list[float]) -> Normalization:
    return Normalization(mean=mean, std=std, in_graph=True, radiometry="reflectance",
                         reflectance_scale=REFLECTANCE_SCALE)


def _training(key: str, release: ReleaseFolder, **extra) -> dict:
    return {"method": "imported", "source": {**SOURCES[key], "sha256": release.sha256},
            "licence": f"MIT ({release.copyright})", "citation": CITATIONS[key],
            "statistics": "normalization mean/std: raw Sentinel-2 L1C DN of the 10,000-sample subset of Galileo's "
                          "pre-training data (normalization.json)", **extra}


def _example(n: int = 2, size: int = 16) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    mean = torch.tensor(PRETRAINING_MEAN).reshape(1, -1, 1, 1)
    image = mean + torch.tensor(PRETRAINING_STD).reshape(1, -1, 1, 1) * torch.randn(
        n, len(BANDS), size, size, generator=generator)
    return {IMAGE_INPUT: image, BAND_MASK_INPUT: torch.zeros(len(BANDS)),
            LATLON_INPUT: torch.tensor([[48.0, 11.0], [-3.0, -60.0]])[:n], MONTH_INPUT: torch.tensor([7, 1])[:n]}


def _export(module: torch.nn.Module, names: tuple[str, ...], metadata: ModelMetadata, out: Path) -> ParityReport:
    example = _example()
    axes = {IMAGE_INPUT: {0: "batch", 2: "height", 3: "width"}, LATLON_INPUT: {0: "batch"},
            MONTH_INPUT: {0: "batch"}, EMBEDDING_OUTPUT: {0: "batch"}}
    used = {name: axes[name] for name in (*names, EMBEDDING_OUTPUT) if name in axes}
    spec = ExportSpec(module.eval(), tuple(example[name] for name in names), names, EMBEDDING_OUTPUT, metadata,
                      atol=PARITY_BOUND, dynamic_axes=used)
    return export_onnx(spec, out)


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def import_presto(source: str | os.PathLike = DEFAULT_SOURCES["presto"],
                  out: str | os.PathLike = DEFAULT_OUTPUTS["presto"],
                  name: str = "Presto encoder (optical Sentinel-2 pixels)") -> ImportReport:
    """Presto's released encoder as a pixel encoder of the 10 optical Sentinel-2 bands (+ NDVI)."""
    release = open_release(source, "default_model.pt", "default_config.json")
    encoder = PrestoEncoder.from_release(release)
    metadata = ModelMetadata(
        kind=Kind.IMAGE_ENCODER, name=name, bands=list(BANDS), tile_size=TILE_SIZE, gsd_m=BASE_GSD_M,
        description=("Presto (NASA Harvest), pre-trained on 21.5 M pixel timeseries worldwide; embeds each pixel's "
                     "spectrum (one timestep, optical Sentinel-2 L1C reflectance, any band groups) with its "
                     "(lat, lon) and month; a tile's embedding is the mean of its pixels'"),
        normalization=_normalization(PRETRAINING_MEAN, PRETRAINING_STD), embedding_dim=encoder.norm.normalized_shape[0],
        spectral=_spectral("pixels", None, derived=True), extra_inputs=[BAND_MASK_INPUT, LATLON_INPUT, MONTH_INPUT],
        training=_training("presto", release, inputs="S2 groups + NDVI (from B08, B04), (lat, lon) token, month; "
                                                    "Sentinel-1, ERA5, SRTM and Dynamic World masked"))
    names = (IMAGE_INPUT, BAND_MASK_INPUT, LATLON_INPUT, MONTH_INPUT)
    out = Path(out)
    return ImportReport(out, "Presto", _parameters(encoder), _export(PrestoImageGraph(encoder), names, metadata, out))


def import_galileo(source: str | os.PathLike = DEFAULT_SOURCES["galileo"],
                   out: str | os.PathLike = DEFAULT_OUTPUTS["galileo"],
                   name: str = "Galileo nano encoder (optical Sentinel-2 tiles)", patch_size: int = 8,
                   use_location: bool = False, use_ndvi: bool = False) -> ImportReport:
    """Galileo nano's released encoder as a tile encoder of the 10 optical Sentinel-2 bands."""
    release = open_release(source, "encoder.pt", "config.json")
    encoder = GalileoEncoder.from_release(release, patch_size, use_location, use_ndvi)
    mean, std = band_statistics(release)
    extras = [BAND_MASK_INPUT] + [LATLON_INPUT] * use_location + [MONTH_INPUT]
    resized = "" if patch_size == 8 else f" (8 px kernels resized to {patch_size} px at import)"
    metadata = ModelMetadata(
        kind=Kind.IMAGE_ENCODER, name=name, bands=list(BANDS), tile_size=TILE_SIZE, gsd_m=BASE_GSD_M,
        description=(f"Galileo nano (NASA Harvest / Ai2), pre-trained on global multi-modal data; embeds tiles in "
                     f"{patch_size} px patches{resized}, one timestep of optical Sentinel-2 L1C reflectance, any band "
                     "groups; the mean of the kept tokens"),
        normalization=_normalization(mean, std), embedding_dim=encoder.norm.normalized_shape[0],
        spectral=_spectral("tiles", patch_size, derived=use_ndvi), extra_inputs=extras,
        training=_training("galileo", release, patch_size=patch_size, location_token=use_location, ndvi=use_ndvi,
                           inputs="S2 groups" + (" + NDVI" if use_ndvi else "") + (" + location" if use_location
                           else "") + ", month, as the authors' evaluation (GalileoWrapper) unless changed; other "
                           "modalities masked"))
    names = (IMAGE_INPUT, *extras)
    out = Path(out)
    graph = GalileoImageGraph(encoder, mean, std)
    return ImportReport(out, "Galileo nano", _parameters(encoder), _export(graph, names, metadata, out))
