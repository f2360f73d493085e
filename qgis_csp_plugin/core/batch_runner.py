"""Run a model over many points in parallel batches, each reduced while still in the CPU cache.

onnxruntime releases the GIL, so a pool of threads, each running a batch on a single-threaded
session, keeps every core busy with no intra-op synchronisation; numpy reductions of the outputs
(PCA colours, one class's probability...) run on the same threads. Used by the heatmaps, where
the calling thread meanwhile transforms the next row block and writes the previous one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType

import numpy as np

from ..contract.onnx_model import OnnxModel

BATCH_SIZE = 2_048  # points per run: activations and outputs stay in cache (fastest measured here)

#: ``reduce(outputs, cells)``: what to keep of a batch's model outputs; ``cells`` are the ids the
#: caller gave its points (e.g. grid cells), to look up other per-point data.
Reduce = Callable[[np.ndarray, np.ndarray], np.ndarray]


def default_workers() -> int:
    """One worker per CPU core available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class BatchRunner:
    """``with BatchRunner(model) as runner: runner.submit(latlon, reduce, out, cells)``.

    ``model`` is reopened as a single-threaded session (cached per file); ``workers`` threads run
    its batches. Leaving the ``with`` block on an error cancels the batches not yet started.
    """

    def __init__(self, model: OnnxModel, batch_size: int = BATCH_SIZE, workers: int | None = None) -> None:
        self.model = OnnxModel.load(model.path, threads=1, device=model.device)
        self.batch_size = batch_size
        self._pool = ThreadPoolExecutor(workers or default_workers(), thread_name_prefix="csp-onnx")

    def __enter__(self) -> BatchRunner:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._pool.shutdown(wait=True, cancel_futures=kind is not None)

    def submit(self, latlon: np.ndarray, reduce: Reduce | None, out: np.ndarray,
               cells: np.ndarray | None = None) -> list[Future]:
        """Start filling ``out[i]`` with ``reduce(model(latlon[i]), cells[i])`` (the bare outputs
        without ``reduce``); wait on the returned futures."""
        def one(start: int) -> None:
            stop = start + self.batch_size
            values = self.model.run(latlon=latlon[start:stop])
            if reduce is not None:
                values = reduce(values, cells[start:stop])
            out[start:start + len(values)] = values.reshape(len(values), *out.shape[1:])

        return [self._pool.submit(one, start) for start in range(0, len(latlon), self.batch_size)]

    def run(self, latlon: np.ndarray) -> np.ndarray:
        """The model's float32 outputs ``(N, width)`` for all points."""
        out = np.empty((len(latlon), self.model.output_width), dtype=np.float32)
        finish(self.submit(latlon, None, out))
        return out


def finish(futures: list[Future]) -> None:
    """Wait for all batches; re-raise the first error."""
    for future in wait(futures).done:
        future.result()
