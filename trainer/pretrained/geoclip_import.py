"""Import GeoCLIP's released location encoder as our ``geoclip`` encoder and write it as ONNX.

The written model passes two parity checks against GeoCLIP's own ``LocationEncoder`` on
:func:`parity_points` (10,000 points incl. the dateline and the poles): our torch module and the
onnxruntime session, each within :data:`PARITY_BOUND`. Nothing is left at ``out`` on failure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import EMBEDDING_OUTPUT, LATLON_INPUT, Kind, ModelMetadata
from trainer.errors import TrainerError
from trainer.export.atomic import atomic_output
from trainer.export.onnx_writer import export_onnx, write_props
from trainer.export.pca_basis import global_pca_basis
from trainer.export.spec import ExportSpec
from trainer.pretrained.geoclip_release import (
    PACKAGE,
    Release,
    encoder_from_state,
    find_release,
    load_state,
    reference_encoder,
)

PARITY_BOUND = 1e-4
PARITY_POINTS = 10_000
SOURCE_URL = "https://github.com/VicenteVivan/geo-clip"
CITATION = ("Vivanco Cepeda, Nayak, Shah: GeoCLIP: Clip-Inspired Alignment between Locations and Images "
            "for Effective Worldwide Geo-localization. NeurIPS 2023")


def parity_points(n: int = PARITY_POINTS, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` float32 (lat, lon) degrees: both sides of the dateline, both poles, the rest uniform on the sphere."""
    rng = np.random.default_rng(seed)
    edge_lats = np.linspace(-90.0, 90.0, 181)
    edges = np.concatenate([
        np.stack([edge_lats, np.full_like(edge_lats, 180.0)], axis=1),     # dateline, east edge of the map
        np.stack([edge_lats, np.full_like(edge_lats, -180.0)], axis=1),    # ... and its west edge
        np.stack([np.full(361, 90.0), np.linspace(-180, 180, 361)], axis=1),   # north pole, every longitude
        np.stack([np.full(361, -90.0), np.linspace(-180, 180, 361)], axis=1),  # south pole
        [[89.9999, 179.9999], [-89.9999, -179.9999], [0.0, 179.9999], [0.0, -179.9999]],
    ])
    rest = n - len(edges)
    if rest < 0:
        raise ValueError(f"parity_points needs n >= {len(edges)} (the dateline and pole points), got {n}")
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, rest)))
    lon = rng.uniform(-180.0, 180.0, rest)
    return np.concatenate([edges, np.stack([lat, lon], axis=1)]).astype(np.float32)


@torch.no_grad()
def embed(module: nn.Module, latlon: np.ndarray, batch: int = 2048) -> np.ndarray:
    """``module`` (torch, eval mode) on ``latlon`` in batches → float32 numpy."""
    points = torch.from_numpy(latlon)
    return torch.cat([module(chunk) for chunk in points.split(batch)]).numpy()


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nan_to_num(np.abs(a.astype(np.float64) - b.astype(np.float64)), nan=np.inf).max())


@dataclass
class ImportReport:
    """What was written and how closely it reproduces GeoCLIP's own encoder."""

    out: Path
    version: str
    torch_diff: float
    onnx_diff: float
    points: int

    def __str__(self) -> str:
        return (f"wrote {self.out} ({self.out.stat().st_size / 1e6:.1f} MB) from {PACKAGE} {self.version}; "
                f"parity vs GeoCLIP's LocationEncoder on {self.points:,} points (dateline, poles): "
                f"max |diff| torch {self.torch_diff:.2e}, onnxruntime {self.onnx_diff:.2e} (bound {PARITY_BOUND:g})")


def _metadata(encoder: nn.Module, release: Release, torch_diff: float, name: str) -> ModelMetadata:
    return ModelMetadata(
        kind=Kind.LOCATION_ENCODER, name=name,
        description=("GeoCLIP location encoder (trained on ~4.7 M geotagged Flickr photos, MP-16); "
                     "input (lat, lon) degrees; Equal Earth projection inside; not periodic at the dateline"),
        location_encoder=encoder.config(), embedding_dim=encoder.out_dim, pca_basis=global_pca_basis(encoder),
        training={"method": "imported", "source": {"package": f"{PACKAGE}=={release.version}", "url": SOURCE_URL,
                                                   "file": "geoclip/model/weights/location_encoder_weights.pth"},
                  "licence": f"{release.licence} (GeoCLIP authors)", "citation": CITATION,
                  "parity_vs_geoclip": {"points": PARITY_POINTS, "torch_max_abs_diff": float(f"{torch_diff:.3g}"),
                                        "bound": PARITY_BOUND}})


def _record_onnx_parity(path: Path, onnx_diff: float) -> None:
    """Add the onnxruntime-vs-GeoCLIP figure to the ``training`` entry of the written file."""
    proto = onnx.load(str(path))
    props = {prop.key: prop.value for prop in proto.metadata_props}
    training = json.loads(props["training"])
    training["parity_vs_geoclip"]["onnxruntime_max_abs_diff"] = float(f"{onnx_diff:.3g}")
    props["training"] = json.dumps(training)
    write_props(proto, props)
    onnx.save(proto, str(path))


def import_geoclip(out: str | os.PathLike, name: str = "GeoCLIP location encoder") -> ImportReport:
    """Read the installed ``geoclip`` package's weights, check parity, write ``out`` atomically."""
    out = Path(out)
    release = find_release()
    encoder = encoder_from_state(load_state(release))
    points = parity_points()
    expected = embed(reference_encoder(release), points)
    torch_diff = max_abs_diff(embed(encoder, points), expected)
    if not torch_diff <= PARITY_BOUND:
        raise TrainerError(f"our geoclip encoder differs from GeoCLIP's by {torch_diff:.2e} > {PARITY_BOUND:g}; "
                           f"nothing written (is {PACKAGE} {release.version} the pinned version?)")
    spec = ExportSpec(encoder, (torch.from_numpy(points[:4]),), (LATLON_INPUT,), EMBEDDING_OUTPUT,
                      _metadata(encoder, release, torch_diff, name), atol=PARITY_BOUND)
    with atomic_output(out) as tmp:
        export_onnx(spec, tmp)
        onnx_diff = max_abs_diff(OnnxModel.load(tmp).run(latlon=points), expected)
        if not onnx_diff <= PARITY_BOUND:
            raise TrainerError(f"the ONNX model differs from GeoCLIP's encoder by {onnx_diff:.2e} > "
                               f"{PARITY_BOUND:g}; nothing written")
        _record_onnx_parity(tmp, onnx_diff)
    return ImportReport(out, release.version, torch_diff, onnx_diff, len(points))
