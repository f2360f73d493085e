"""A ``fused`` model: an image classifier and a location prior on the same classes in one ONNX graph.

Output P(y | I, x) ∝ P(y | I) · P(y | x), renormalised per row; rows where every class underflows
fall back to P(y | I) (the same rule as :func:`qgis_csp_plugin.contract.probabilities.fuse`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from qgis_csp_plugin.contract.probabilities import EPS
from qgis_csp_plugin.contract.schema import PROBABILITIES_OUTPUT, Kind
from trainer.errors import TrainerError
from trainer.export.spec import ExportSpec


class FusedClassifier(nn.Module):
    """``(image (N, C, H, W), latlon (N, 2) degrees)`` → fused probabilities ``(N, K)``."""

    def __init__(self, image_model: nn.Module, location_model: nn.Module) -> None:
        super().__init__()
        self.image_model, self.location_model = image_model, location_model

    def forward(self, image: torch.Tensor, latlon: torch.Tensor) -> torch.Tensor:
        p_image = self.image_model(image)
        joint = p_image * self.location_model(latlon)
        total = joint.sum(dim=1, keepdim=True)
        return torch.where(total > EPS, joint / total.clamp_min(EPS), p_image)


def fused_export_spec(image_spec: ExportSpec, location_spec: ExportSpec, name: str | None = None) -> ExportSpec:
    """Combine an ``image_classifier`` and a ``location_prior`` spec with identical class names."""
    image_meta, location_meta = image_spec.metadata, location_spec.metadata
    if (image_meta.kind, location_meta.kind) != (Kind.IMAGE_CLASSIFIER, Kind.LOCATION_PRIOR):
        raise TrainerError(f"fusion needs an image_classifier and a location_prior, got {image_meta.kind} "
                           f"and {location_meta.kind}")
    if image_meta.class_names != location_meta.class_names:
        raise TrainerError(f"class names differ: image {image_meta.class_names} vs "
                           f"location {location_meta.class_names}")
    image = image_spec.example_inputs[0]
    latlon = location_spec.example_inputs[0][:1].expand(len(image), -1).clone()
    metadata = replace(image_meta, kind=Kind.FUSED, name=name or f"{image_meta.name} + {location_meta.name}",
                       description=f"P(y | image, location) ∝ P(y | image) · P(y | location): {image_meta.name} "
                                   f"fused with {location_meta.name}",
                       location_encoder=location_meta.location_encoder,
                       training={"image": image_meta.training, "location": location_meta.training},
                       metrics={})
    module = FusedClassifier(image_spec.module, location_spec.module).eval()
    return ExportSpec(module, (image, latlon), (*image_spec.input_names, *location_spec.input_names),
                      PROBABILITIES_OUTPUT, metadata, atol=max(image_spec.atol, location_spec.atol))
