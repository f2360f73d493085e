"""What a trained task hands to the exporter (each LightningModule implements ``export_spec``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from qgis_csp_plugin.contract.schema import ModelMetadata


@dataclass
class ExportSpec:
    """An eval-mode module whose inputs/outputs follow the schema, plus its metadata.

    ``example_inputs`` are in the order of ``input_names`` (``image`` and/or ``latlon``);
    the single output is ``probabilities`` or ``embedding``. ``atol`` is the torch↔ORT parity
    bound (1e-4 for location models, 1e-3 for image backbones). ``dynamic_axes``: the dynamic axes of
    each input/output (name → {axis: name}); by default axis 0 ("batch") of every one. ``graph``, when given,
    returns the ONNX model written by hand (e.g. a kNN prior carrying its training points,
    :mod:`qgis_csp_plugin.contract.knn_prior`) instead of one traced from ``module``, which is then only the
    parity check's reference.
    """

    module: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]
    output_name: str
    metadata: ModelMetadata
    atol: float = 1e-4
    dynamic_axes: dict[str, dict[int, str]] | None = None
    graph: Callable[[], bytes] | None = None
