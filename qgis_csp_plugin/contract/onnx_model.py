"""Load an exported ONNX model with onnxruntime and read its metadata through the shared schema."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import GeoSslError, MissingDependencyError, ModelLoadError
from .execution import CPU, DEVICES, current_runtime, fallback_warning, requested_provider
from .schema import (
    BAND_MASK_INPUT,
    EXPORT_REPORT_KEY,
    IMAGE_INPUT,
    LATLON_INPUT,
    MONTH_INPUT,
    MetadataError,
    ModelMetadata,
)

ORT_DTYPES = {"float": "float32", "double": "float64", "float16": "float16", "int64": "int64"}
MIN_VERSION = (1, 17)  # the oldest onnxruntime the plugin accepts
#: Pixel encoders embed every pixel of a tile: one session run holds at most this many pixels (memory
#: of the per-pixel token activations, ~20 kB each), so a batch of tiles is run in slices.
PIXELS_PER_RUN = 8192
MAX_TILE_BYTES = 64 * 1024 ** 2  # float32 pixels of one tile, all bands (shipped models: 64 px x 13 bands, 0.2 MiB)


def version_tuple(text: str) -> tuple[int, ...]:
    """``"1.22.1"`` -> ``(1, 22, 1)``; stops at the first non-numeric part (``1.25.0.dev…``)."""
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def onnxruntime_version() -> str | None:
    """Version of the onnxruntime this Python imports, ``None`` when it cannot import it."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return getattr(onnxruntime, "__version__", "0")


def needs_install(version: str | None) -> bool:
    """True when onnxruntime is missing or older than :data:`MIN_VERSION`."""
    return version is None or version_tuple(version) < MIN_VERSION



def onnxruntime_install_hint(version: str | None = None) -> str:
    """What is wrong with onnxruntime and the two ways to fix it: the plugin's installer, or by hand per OS."""
    minimum = ".".join(map(str, MIN_VERSION))
    problem = ("needs onnxruntime, which is not installed in QGIS's Python" if version is None
               else f"needs onnxruntime >= {minimum}, QGIS's Python has {version}")
    system = platform.system()
    if system == "Windows":
        how = 'open the "OSGeo4W Shell" and run: python -m pip install --user onnxruntime'
    elif system == "Darwin":
        how = "run: /Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install --user onnxruntime"
    else:
        how = ("run: python3 -m pip install --user 'onnxruntime' 'numpy<2' with the same Python QGIS uses "
               "(Debian/Ubuntu: /usr/bin/python3)")
    return (f"The CSP plugin {problem}. Click 'Install onnxruntime' in the message bar or in Settings > "
            f"Options > CSP (installs a tested onnxruntime for QGIS only), or {how}; then restart QGIS.")


def import_onnxruntime():
    """Import onnxruntime or raise :class:`MissingDependencyError` (missing or too old) with the fix."""
    version = onnxruntime_version()
    if needs_install(version):
        raise MissingDependencyError(onnxruntime_install_hint(version))
    import onnxruntime

    return onnxruntime


@dataclass
class OnnxModel:
    """An onnxruntime session plus the model's validated metadata and the provider that runs it."""

    path: Path
    session: object
    metadata: ModelMetadata
    device: str = "cpu"
    provider_warning: str | None = None
    checked: bool = field(default=False, compare=False)

    @classmethod
    def load(cls, path: str | os.PathLike, threads: int | None = None, device: str | None = None,
             check: bool = True) -> OnnxModel:
        """Open ``path``; any failure becomes a :class:`ModelLoadError` that names the file.

        ``check`` runs :meth:`self_check` (a model whose graph contradicts its metadata, or that
        gives NaN, is refused); only the exporter and ``inspect``, which report it themselves, skip it.

        ``threads`` and ``device`` default to the user's settings (:mod:`contract.execution`). A GPU
        provider that is missing or fails to initialise falls back to the CPU with
        :attr:`provider_warning` set. Sessions are cached per file (path, size, modification time),
        thread count and device, so a model used again (another layer, a Processing batch, the model
        picker) is not re-initialised; onnxruntime sessions are safe to run from several threads.
        """
        runtime = current_runtime()
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        import_onnxruntime()  # a clear message when it is missing, even for a cached model
        stat = path.stat()
        model = _load_session(str(path), stat.st_size, stat.st_mtime_ns,
                              runtime.threads if threads is None else threads, device or runtime.device)
        if check and not model.checked:
            model.self_check()
            model.checked = True  # once per cached session
        return model

    @property
    def provider(self) -> str:
        """The execution provider that runs this model (``CPUExecutionProvider``, ``CUDAExecutionProvider``…)."""
        return self.session.get_providers()[0]

    @property
    def runtime_note(self) -> str:
        """One line for the log of every run: model and provider (a fallback is :attr:`provider_warning`,
        which every run reports once as a warning)."""
        return f"{self.path.name} runs on onnxruntime {self.provider} (device setting: {DEVICES[self.device][0]})"

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    @property
    def output_width(self) -> int:
        """Columns of :meth:`run`'s output: classes, or the embedding size."""
        return self.metadata.n_classes or self.metadata.embedding_dim

    def _check_io(self) -> None:
        meta = self.metadata
        expected_in, expected_out = meta.input_names, meta.output_name
        if sorted(self.input_names) != sorted(expected_in) or expected_out not in self.output_names:
            raise ModelLoadError(
                f"{self.path.name}: a {meta.kind} model must have inputs {expected_in} and output "
                f"{expected_out!r}, found inputs {self.input_names} and outputs {self.output_names}"
            )
        if meta.has_image_input:
            self._check_tile_size()

    @property
    def graph_tile_size(self) -> int | None:
        """The tile size the graph's image input fixes, ``None`` when its height and width are dynamic."""
        shape = next(i.shape for i in self.session.get_inputs() if i.name == IMAGE_INPUT)
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        return fixed[0] if fixed else None

    def _check_tile_size(self) -> None:
        """Refuse a metadata tile size the graph contradicts, or one tile larger than :data:`MAX_TILE_BYTES`
        (before the self-check or a run allocates a batch of them)."""
        meta, graph = self.metadata, self.graph_tile_size
        if graph is not None and graph != meta.tile_size:
            raise ModelLoadError(f"{self.path.name}: its metadata says tile_size {meta.tile_size} px, but the graph "
                                 f"takes {graph} px tiles: the metadata is wrong")
        tile_bytes = len(meta.bands) * meta.tile_size ** 2 * 4
        if tile_bytes > MAX_TILE_BYTES:
            raise ModelLoadError(f"{self.path.name}: its metadata tile_size {meta.tile_size:,} px needs "
                                 f"{tile_bytes / 1024 ** 3:,.1f} GiB per tile of {len(meta.bands)} bands, more than "
                                 f"the {MAX_TILE_BYTES / 1024 ** 2:g} MiB allowed: the metadata is wrong or the "
                                 "model cannot run here")

    def run(self, image: np.ndarray | None = None, latlon: np.ndarray | None = None,
            band_mask: np.ndarray | None = None, month: np.ndarray | None = None) -> np.ndarray:
        """Run one batch; returns probabilities or embeddings as float32 ``(N, K)``.

        ``latlon``: (lat, lon) degrees per row (location models; image models that take the tile centres);
        ``band_mask``: ``(C,)`` 1 = band missing (zeros in ``image``), 0 = present; ``month``: ``(N,)``
        calendar months 1-12. Pixel encoders run in slices of at most :data:`PIXELS_PER_RUN` pixels."""
        meta = self.metadata
        feeds: dict[str, np.ndarray] = {}
        wanted = {IMAGE_INPUT: (image, np.float32, "an image batch"),
                  LATLON_INPUT: (latlon, np.float32, "a (lat, lon) batch"),
                  BAND_MASK_INPUT: (band_mask, np.float32, "a band mask (1 = missing band)"),
                  MONTH_INPUT: (month, np.int64, "the acquisition month of each row (1-12)")}
        for name in meta.input_names:
            value, dtype, what = wanted[name]
            if value is None:
                raise ValueError(f"{meta.name} needs {what}")
            feeds[name] = np.ascontiguousarray(value, dtype=dtype)
        if MONTH_INPUT in feeds and feeds[MONTH_INPUT].size and not (
                (feeds[MONTH_INPUT] >= 1) & (feeds[MONTH_INPUT] <= 12)).all():
            raise GeoSslError(f"{meta.name}: months must lie in 1..12, got {np.unique(feeds[MONTH_INPUT]).tolist()}")
        parts = [self._run_feeds(chunk) for chunk in self._slices(feeds)]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _slices(self, feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """``feeds`` cut along the batch axis so that a pixel encoder's run holds <= PIXELS_PER_RUN pixels."""
        spectral = self.metadata.spectral
        image = feeds.get(IMAGE_INPUT)
        if spectral is None or spectral.consumes != "pixels" or image is None or image.ndim != 4:
            return [feeds]
        rows = max(1, PIXELS_PER_RUN // max(1, image.shape[2] * image.shape[3]))
        if len(image) <= rows:
            return [feeds]
        return [{name: (value if name == BAND_MASK_INPUT else value[start:start + rows])
                 for name, value in feeds.items()} for start in range(0, len(image), rows)]

    def _run_feeds(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            result = self.session.run([self.metadata.output_name], feeds)[0]
        except Exception as exc:  # onnxruntime's private error types (INVALID_ARGUMENT, allocation, ...)
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feeds.items())
            raise GeoSslError(f"{self.path.name} could not run on {shapes}: {str(exc).splitlines()[0][:300]}") from exc
        if not np.isfinite(result).all():
            raise GeoSslError(f"{self.path.name} produced NaN or infinite outputs for {self.output_width}-column "
                              "results: the model is broken (check it with `python -m trainer inspect`)")
        return result

    @property
    def export_report(self) -> dict:
        """How the exporter produced this file (precision, parity, accuracy change); may be empty."""
        raw = self.session.get_modelmeta().custom_metadata_map.get(EXPORT_REPORT_KEY, "{}")
        try:
            report = json.loads(raw)
        except ValueError:
            return {}
        return report if isinstance(report, dict) else {}

    def io_lines(self) -> list[str]:
        """One line per input/output: name, dtype and shape (``batch`` is the dynamic axis)."""
        def line(direction: str, arg) -> str:
            shape = ", ".join(str(d) for d in arg.shape)
            dtype = arg.type.replace("tensor(", "").rstrip(")")
            return f"{direction} {arg.name}: {ORT_DTYPES.get(dtype, dtype)} ({shape})"

        return ([line("input", i) for i in self.session.get_inputs()]
                + [line("output", o) for o in self.session.get_outputs()])

    def describe(self) -> str:
        """Metadata, inputs/outputs, export report and file: the CLI `inspect` text and the tooltip."""
        lines = [self.metadata.describe(), *self.io_lines()]
        if self.export_report:
            lines.append("export: " + ", ".join(f"{k}={v}" for k, v in self.export_report.items()))
        size_mb = self.path.stat().st_size / 1e6
        lines.append(f"file: {self.path} ({size_mb:.2f} MB)")
        return "\n".join(lines)

    def random_batch(self, batch: int = 8, seed: int = 0, size: int | None = None) -> dict[str, np.ndarray]:
        """Plausible random inputs: raw pixels around the training mean, points over the globe, the bands
        masked at training masked, random months; tiles of ``size`` px (default: the model's tile size)."""
        rng = np.random.default_rng(seed)
        feeds: dict[str, np.ndarray] = {}
        meta = self.metadata
        if meta.has_image_input:
            assert meta.normalization is not None and meta.tile_size is not None
            side = size or meta.tile_size
            shape = (batch, len(meta.bands), side, side)
            mean = np.asarray(meta.normalization.mean, dtype=np.float32).reshape(1, -1, 1, 1)
            std = np.asarray(meta.normalization.std, dtype=np.float32).reshape(1, -1, 1, 1)
            feeds[IMAGE_INPUT] = (mean + std * rng.standard_normal(shape)).astype(np.float32)
        if LATLON_INPUT in meta.input_names:
            lat = np.degrees(np.arcsin(rng.uniform(-1, 1, batch)))
            feeds[LATLON_INPUT] = np.stack([lat, rng.uniform(-180, 180, batch)], 1).astype(np.float32)
        if BAND_MASK_INPUT in meta.input_names:
            masked = set(meta.spectral.masked_bands)
            feeds[BAND_MASK_INPUT] = np.array([band in masked for band in meta.bands], dtype=np.float32)
            feeds[IMAGE_INPUT][:, feeds[BAND_MASK_INPUT] > 0] = 0.0
        if MONTH_INPUT in meta.input_names:
            feeds[MONTH_INPUT] = rng.integers(1, 13, batch).astype(np.int64)
        return feeds

    def self_check(self, batch: int = 8) -> str:
        """Run a random batch; raise :class:`ModelLoadError` unless it runs, as its metadata
        describes, to finite outputs (that sum to 1)."""
        name = self.path.name
        try:
            output = self.run(**self.random_batch(batch, size=check_tile_size(self.metadata)))
        except GeoSslError as exc:
            raise ModelLoadError(f"{name}: self check failed, the model does not run as its metadata describes "
                                 f"({exc})") from exc
        expected = (batch, self.output_width)
        if output.shape != expected:
            raise ModelLoadError(f"{name}: self check returned shape {output.shape}, expected {expected}")
        summary = f"self check ok: {batch} random inputs -> finite {self.output_names[0]} {output.shape}"
        if self.metadata.is_classifier and self.metadata.output_activation == "softmax":
            worst = float(np.abs(output.sum(axis=1) - 1).max())
            if worst > 1e-3:
                raise ModelLoadError(f"{name}: self check probabilities do not sum to 1 (off by {worst:.2e})")
            summary += f", rows sum to 1 (max error {worst:.1e})"
        return summary


def check_tile_size(meta: ModelMetadata) -> int | None:
    """Tile size of random checks: models with spectral inputs take any size (tile models: multiples of
    their patch; here 2 x 2 patches), and small tiles keep the check of a pixel encoder, which embeds every
    pixel, fast; other models: their own tile size (None)."""
    spectral = meta.spectral
    return min(meta.tile_size, max(2 * (spectral.patch_size or 4), 8)) if spectral is not None else None


def read_metadata(path: str | os.PathLike) -> ModelMetadata:
    """Metadata of a model (through the session cache of :meth:`OnnxModel.load`; CPU, never a GPU)."""
    return OnnxModel.load(path, threads=1, device="cpu").metadata


@lru_cache(maxsize=16)
def _load_session(path: str, size: int, mtime_ns: int, threads: int, device: str) -> OnnxModel:
    """Create the session and validate metadata and IO (``size``/``mtime_ns`` key the cache)."""
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    requested = requested_provider(device, available)
    error = None
    if requested in available:
        try:
            session = _session(ort, path, threads, [requested, CPU])
        except ModelLoadError as exc:  # the GPU provider failed to initialise: the CPU takes over
            error = str(exc).split(": ", 1)[-1]
            session = _session(ort, path, threads, [CPU])
    else:
        session = _session(ort, path, threads, [CPU])
    warning = fallback_warning(device, requested, session.get_providers()[0], available, error)
    name = Path(path).name
    try:
        metadata = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    except MetadataError as exc:
        raise ModelLoadError(f"{name}: {exc}") from exc
    model = OnnxModel(path=Path(path), session=session, metadata=metadata, device=device, provider_warning=warning)
    model._check_io()
    return model


def _session(ort, path: str, threads: int, providers: list[str]):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if "DmlExecutionProvider" in providers:  # DirectML supports neither memory patterns nor parallel runs
        options.enable_mem_pattern = False
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(path, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several private exception types
        gpu = f" or {providers[0]} cannot run it" if providers[0] != CPU else ""
        raise ModelLoadError(
            f"{Path(path).name} is not a readable ONNX model (corrupt, truncated or not ONNX){gpu}: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from exc
