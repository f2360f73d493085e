"""The location encoder inside the installed ``geoclip`` package (PyPI wheel; never downloaded here).

Only the location-encoder module of the package is loaded: ``import geoclip`` would import its image
side (transformers, Pillow 13, huggingface-hub < 2), which this project does not install (see the
README, "Pretrained encoders"). Its weights are mapped onto our ``geoclip`` encoder
(:class:`trainer.encoders.geoclip.GeoClipEncoder`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from trainer.encoders.geoclip import DEFAULT_SIGMAS, GeoClipEncoder
from trainer.errors import TrainerError

PACKAGE = "geoclip"
PINNED_VERSION = "1.3.0"
WEIGHTS = Path("model") / "weights" / "location_encoder_weights.pth"
_REFERENCE_PACKAGE = "_geossl_geoclip_model"  # private name: the real ``geoclip`` package stays unimported
MISSING = (f"the `{PACKAGE}` package is not installed; install it offline-capable from PyPI with "
           f"`pip install --no-deps {PACKAGE}=={PINNED_VERSION}` (the project's [geoclip] extra pins it; "
           "scripts/setup.sh installs it)")


@dataclass(frozen=True)
class Release:
    """Where the installed package lies and what it is."""

    root: Path
    version: str
    licence: str

    @property
    def weights(self) -> Path:
        return self.root / WEIGHTS


def find_release() -> Release:
    """The installed ``geoclip`` package; :class:`TrainerError` with the install command when missing."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise TrainerError(MISSING)
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        meta = importlib.metadata.metadata(PACKAGE)
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise TrainerError(MISSING) from None
    release = Release(root, version, meta.get("License-Expression") or meta.get("License") or "MIT")
    if not release.weights.is_file():
        raise TrainerError(f"{PACKAGE} {version} at {root} has no {WEIGHTS}; reinstall {PACKAGE}=={PINNED_VERSION}")
    return release


def load_state(release: Release) -> dict[str, torch.Tensor]:
    """The released location-encoder state dict (``LocEnc{i}.capsule.*`` / ``LocEnc{i}.head.*``)."""
    try:
        return torch.load(release.weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors all mean a damaged file
        raise TrainerError(f"cannot read {release.weights}: {str(exc).splitlines()[0][:160]}") from exc


def _branch_linears(state: dict[str, torch.Tensor], index: int) -> list[str]:
    """Prefixes of branch ``index``'s linear layers in forward order (capsule layers, then the head)."""
    prefix = f"LocEnc{index}."
    layers = {key[: -len(".weight")] for key in state if key.startswith(prefix) and key.endswith(".weight")}
    order = {"capsule": 0, "head": 1}
    return sorted(layers, key=lambda name: (order[name.split(".")[1]], int(name.split(".")[2])))


def encoder_from_state(state: dict[str, torch.Tensor]) -> GeoClipEncoder:
    """Our :class:`GeoClipEncoder` with the released weights (layout read from the tensors' shapes)."""
    n_branches = len({key.split(".")[0] for key in state if key.startswith("LocEnc")})
    if n_branches != len(DEFAULT_SIGMAS):
        raise TrainerError(f"expected {len(DEFAULT_SIGMAS)} branches in the GeoCLIP weights, found {n_branches}")
    linears = _branch_linears(state, 0)
    first, last = state[f"{linears[0]}.weight"], state[f"{linears[-1]}.weight"]
    encoder = GeoClipEncoder(sigmas=list(DEFAULT_SIGMAS), num_features=first.shape[1] // 2,
                             hidden_dim=first.shape[0], num_hidden_layers=len(linears) - 1,
                             out_dim=last.shape[0], dropout=0.0, activation="relu")
    mapped: dict[str, torch.Tensor] = {}
    for index, branch in enumerate(encoder.branches):
        ours = [name for name, module in branch.mlp.named_children() if isinstance(module, nn.Linear)]
        theirs = _branch_linears(state, index)
        if len(ours) != len(theirs):
            raise TrainerError(f"GeoCLIP branch {index} has {len(theirs)} linear layers, expected {len(ours)}")
        mapped[f"branches.{index}.features.b"] = state[f"LocEnc{index}.capsule.0.b"]
        for our, their in zip(ours, theirs, strict=True):
            for tensor in ("weight", "bias"):
                mapped[f"branches.{index}.mlp.{our}.{tensor}"] = state[f"{their}.{tensor}"]
    encoder.load_state_dict(mapped, strict=True)
    return encoder.eval()


def reference_encoder(release: Release) -> nn.Module:
    """GeoCLIP's own ``LocationEncoder`` with its released weights, imported from the package's files.

    Its ``model`` folder is registered under a private package name so that ``model/location_encoder.py``
    (and its ``rff`` and ``misc`` helpers) load without ``geoclip/__init__.py`` and its image side.
    """
    if _REFERENCE_PACKAGE not in sys.modules:
        package = types.ModuleType(_REFERENCE_PACKAGE)
        package.__path__ = [str(release.root / "model")]
        sys.modules[_REFERENCE_PACKAGE] = package
    try:
        with warnings.catch_warnings():  # its rff helpers use torch.jit.script, deprecated in torch 2.14
            warnings.simplefilter("ignore", FutureWarning)
            module = importlib.import_module(f"{_REFERENCE_PACKAGE}.location_encoder")
        return module.LocationEncoder(from_pretrained=True).eval()
    except ImportError as exc:
        raise TrainerError(f"cannot load GeoCLIP's location encoder from {release.root}: {exc}") from exc
