"""The default models: ``<plugin>/models`` when installed, the repository's ``models/`` in a checkout."""

from __future__ import annotations

from pathlib import Path

from ..contract.errors import GeoSslError, ModelLoadError
from ..contract.onnx_model import read_metadata
from ..contract.schema import Kind
from .band_mapping import band_mapping

PLUGIN_DIR = Path(__file__).resolve().parent.parent


def default_model_dirs() -> list[Path]:
    """Folders searched for default models, in order.

    The repository's ``models/`` is searched only when the plugin runs from a checkout (a
    ``pyproject.toml`` beside it): in an installed plugin the parent folder is
    ``<profile>/python/plugins``, whose ``models`` folder would belong to someone else.
    """
    dirs = [PLUGIN_DIR / "models"]
    if (PLUGIN_DIR.parent / "pyproject.toml").is_file():
        dirs.append(PLUGIN_DIR.parent / "models")
    return dirs


def default_model_paths() -> list[Path]:
    """ONNX files shipped with the plugin (``<plugin>/models``) or in the repository's ``models/``."""
    for folder in default_model_dirs():
        if folder.is_dir():
            found = sorted(folder.glob("*.onnx"))
            if found:
                return found
    return []


def find_default_model(kind: Kind, prefer: str | None = None, class_names: list[str] | None = None) -> Path | None:
    """The first default model of ``kind``; ``prefer`` picks one whose name or file name contains it
    (any case); ``class_names`` keeps only models over exactly those classes (e.g. a prior to fuse)."""
    candidates = []
    for path in default_model_paths():
        try:
            meta = read_metadata(path)
        except ModelLoadError:
            continue
        if meta.kind == kind and (class_names is None or meta.class_names == list(class_names)):
            candidates.append((path, meta))
    if prefer:
        for path, meta in candidates:
            if prefer.lower() in meta.name.lower() or prefer.lower() in path.stem.lower():
                return path
    return candidates[0][0] if candidates else None



#: Default image encoders of csp:train_classifier, best first (frozen-embedding few-label accuracy on
#: EuroSAT, docs/results): the first installed one that can read the layer's bands is used.
DEFAULT_ENCODERS = ("galileo_nano_encoder", "presto_encoder", "moco_eurosat_encoder")


def default_image_encoder(layer_labels: list[str], layer_name: str = "", bands=None, sensor: str | None = None) -> Path:
    """The first of :data:`DEFAULT_ENCODERS` (then any other installed image encoder) whose band mapping
    fits the layer; :class:`GeoSslError` naming what was tried when none does."""
    installed = {}
    for path in default_model_paths():
        try:
            meta = read_metadata(path)
        except ModelLoadError:
            continue
        if meta.kind == Kind.IMAGE_ENCODER:
            installed[path.stem] = (path, meta)
    order = [stem for stem in DEFAULT_ENCODERS if stem in installed] + sorted(set(installed) - set(DEFAULT_ENCODERS))
    problems = []
    for stem in order:
        path, meta = installed[stem]
        try:
            band_mapping(meta, layer_labels, bands, layer_name, sensor)
        except GeoSslError as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        return path
    if not problems:
        raise GeoSslError("no ENCODER given and no default image encoder is installed in models/")
    raise GeoSslError("no installed image encoder can read this layer's bands: " + " | ".join(problems))
