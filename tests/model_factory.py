"""Small but real models for plugin tests: built in torch, exported by our exporter, run by onnxruntime.

Weights are random (seeded); what the tests check is the plugin path (tiling, georeferencing,
styling, fusion), not accuracy. Tests that need trained behaviour use the default models in models/.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from qgis_csp_plugin.contract.schema import ModelMetadata
from trainer.data.bands import EUROSAT_BANDS
from trainer.export.onnx_writer import export_onnx
from trainer.export.spec import ExportSpec

CLASSES = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
           "Pasture", "PermanentCrop", "Residential", "River", "SeaLake"]


class TinyImageNet(nn.Module):
    def __init__(self, bands: int, classes: int, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.net = nn.Sequential(nn.Conv2d(bands, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(8, classes))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net((image - self.mean) / self.std), dim=1)


class TinyEncoderNet(nn.Module):
    """Standardised bands → two convolutions → global average pool: an ``embedding`` of ``dim`` numbers."""

    def __init__(self, bands: int, dim: int, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.net = nn.Sequential(nn.Conv2d(bands, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, dim, 3, stride=2),
                                 nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net((image - self.mean) / self.std)


class TinyLocationNet(nn.Module):
    def __init__(self, out: int, softmax: bool, sigmoid: bool = False) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, out))
        self.softmax, self.sigmoid = softmax, sigmoid

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        rad = latlon * (math.pi / 180)
        lat, lon = rad[:, :1], rad[:, 1:]
        xyz = torch.cat([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], 1)
        out = self.mlp(torch.cat([xyz, 2 * xyz], 1))
        if self.sigmoid:
            return torch.sigmoid(out)
        return torch.softmax(out, 1) if self.softmax else out


def export_image_classifier(path: Path, bands=("red", "green", "blue"), tile_size=32, gsd_m=30.0,
                            mean=None, std=None, radiometry="absolute") -> Path:
    torch.manual_seed(0)
    mean = list(mean or [100.0] * len(bands))
    std = list(std or [50.0] * len(bands))
    module = TinyImageNet(len(bands), len(CLASSES), mean, std)
    meta = ModelMetadata(kind="image_classifier", name=path.stem, class_names=CLASSES, bands=list(bands),
                         tile_size=tile_size, gsd_m=gsd_m, overlap=0.0,
                         normalization={"mean": mean, "std": std, "radiometry": radiometry})
    export_onnx(ExportSpec(module, (torch.full((2, len(bands), tile_size, tile_size), mean[0]),),
                           ("image",), "probabilities", meta, atol=1e-3), path)
    return path


def export_image_encoder(path: Path, bands=EUROSAT_BANDS, tile_size=64, gsd_m=10.0, dim=32) -> Path:
    """A small 13-band ``image_encoder`` (random weights, raw digital numbers standardised in the graph,
    opset of our exporter): a fast stand-in for an encoder where the tests check graphs and plumbing."""
    torch.manual_seed(2)
    mean, std = [1500.0] * len(bands), [1000.0] * len(bands)
    module = TinyEncoderNet(len(bands), dim, mean, std)
    meta = ModelMetadata(kind="image_encoder", name=path.stem, bands=list(bands), tile_size=tile_size, gsd_m=gsd_m,
                         overlap=0.0, embedding_dim=dim,
                         normalization={"mean": mean, "std": std, "radiometry": "absolute"})
    export_onnx(ExportSpec(module, (torch.full((2, len(bands), tile_size, tile_size), 1500.0),), ("image",),
                           "embedding", meta, atol=1e-3), path)
    return path


def export_location_model(path: Path, kind: str = "location_prior", classes=CLASSES, dim: int = 16,
                          presence: bool = False, prior_exponent: float | None = None) -> Path:
    """A location encoder, or a prior: softmax, or per-class sigmoid presences with ``presence``;
    ``prior_exponent``: the fusion α stored in a prior."""
    torch.manual_seed(1)
    prior = kind == "location_prior"
    module = TinyLocationNet(len(classes) if prior else dim, softmax=prior, sigmoid=presence)
    extra = {"class_names": list(classes)} if prior else {"embedding_dim": dim}
    if presence:
        extra["output_activation"] = "sigmoid"
    if prior_exponent is not None:
        extra["prior_exponent"] = prior_exponent
    meta = ModelMetadata(kind=kind, name=path.stem, location_encoder={"name": "xyz", "params": {}}, **extra)
    export_onnx(ExportSpec(module, (torch.zeros(2, 2),), ("latlon",),
                           "probabilities" if prior else "embedding", meta), path)
    return path


def as_schema_v1(path: Path) -> Path:
    """Rewrite an exported model's metadata as the version-1 exporter wrote it (no ``prior_exponent``)."""
    import onnx

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props if p.key != "prior_exponent"}
    props["geossl_schema_version"] = "1"
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    return path



def with_metadata_of(model: Path, graph, target: Path, **changes: str) -> Path:
    """``graph`` (an ``onnx.ModelProto``) carrying ``model``'s metadata, entries replaced by ``changes``
    (JSON text), saved as ``target``."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    props.update(changes)
    del graph.metadata_props[:]
    for key, value in props.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(target))
    return target
