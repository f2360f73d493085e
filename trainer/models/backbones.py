"""Image backbones by name from timm (torchvision names accepted), any number of input bands.

Weights are never downloaded (no internet at run time): random init, or a local checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from trainer.errors import TrainerError

#: Named reduced-width timm models (name -> (timm name, kwargs)) for small, fast default models.
VARIANTS: dict[str, tuple[str, dict]] = {
    "resnet10t_w32": ("resnet10t", {"channels": (32, 64, 128, 256)}),  # 1.3 M params, 256 features
}


def build_backbone(name: str = "resnet50", in_channels: int = 3, checkpoint: str | Path | None = None,
                   **kwargs) -> nn.Module:
    """A feature extractor ``(N, C, H, W) -> (N, F)`` with ``.num_features`` = F.

    ``kwargs`` go to :func:`timm.create_model` (e.g. ``channels=(32, 64, 128, 256)`` for a small ResNet
    via ``block_args``/``base_width`` options the model accepts).
    """
    name, defaults = VARIANTS.get(name, (name, {}))
    kwargs = {**defaults, **kwargs}
    try:
        model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **kwargs)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise TrainerError(f"unknown backbone {name!r}: {exc}") from exc
    if checkpoint is not None:
        load_backbone_weights(model, checkpoint)
    return model


def load_backbone_weights(model: nn.Module, checkpoint: str | Path) -> None:
    """Load a local state dict (plain, or a Lightning checkpoint's ``backbone.*`` keys)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise TrainerError(f"backbone checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("state_dict", state)
    for prefix in ("backbone.", "encoder_q.backbone.", "image_encoder.backbone."):
        picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if picked:
            state = picked
            break
    missing, unexpected = model.load_state_dict(state, strict=False)
    if len(missing) == len(model.state_dict()):
        raise TrainerError(f"{path} holds no weights for this backbone (missing all keys)")
