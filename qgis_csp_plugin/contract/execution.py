"""Which onnxruntime execution provider runs the models: the user's device choice and thread count.

The plugin's settings page and the Processing algorithms set :func:`set_runtime` from the QGIS
settings; :meth:`OnnxModel.load` reads it. ``auto`` takes the first GPU provider the installed
onnxruntime offers (CUDA, DirectML, CoreML), else the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU = "CPUExecutionProvider"
DEVICES = {  # setting value -> (label, provider); "auto" picks among the GPU providers
    "auto": ("Auto (GPU when available)", None),
    "cpu": ("CPU", CPU),
    "cuda": ("CUDA (NVIDIA GPU)", "CUDAExecutionProvider"),
    "directml": ("DirectML (Windows GPU)", "DmlExecutionProvider"),
    "coreml": ("CoreML (Apple)", "CoreMLExecutionProvider"),
}
GPU_PROVIDERS = tuple(provider for _label, provider in DEVICES.values() if provider not in (None, CPU))


@dataclass(frozen=True)
class Runtime:
    """``device``: a key of :data:`DEVICES`; ``threads``: onnxruntime intra-op threads, 0 = all cores."""

    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = all cores), got {self.threads}")


_current = Runtime()


def set_runtime(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current_runtime() -> Runtime:
    return _current


def requested_provider(device: str, available: list[str]) -> str | None:
    """The GPU provider to try for ``device`` (``None``: CPU only)."""
    if device == "auto":
        return next((p for p in GPU_PROVIDERS if p in available), None)
    provider = DEVICES[device][1]
    return None if provider == CPU else provider


def fallback_warning(device: str, requested: str | None, used: str, available: list[str],
                     error: str | None = None) -> str | None:
    """A warning when a GPU was asked for and the CPU runs the model instead, else ``None``."""
    label = DEVICES[device][0]
    if requested is None or used != CPU:
        return None
    if requested not in available:
        why = (f"this onnxruntime has no {requested} (it offers {', '.join(available)}); "
               "install the GPU build of onnxruntime for it")
    else:
        why = f"{requested} failed to initialise: {error or 'no reason given'}"
    return f"device {label} requested but the CPU is used: {why}"
