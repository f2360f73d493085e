"""Image backbones by name from timm, else torchvision, with any number of input bands.

timm also knows most torchvision names (``resnet50`` is the same ResNet-50, same parameter names);
torchvision-only names (``mobilenet_v3_large``, ``regnet_y_400mf``, ``swin_t``…) are built by
torchvision with their first convolution re-made for the band count and their last linear layer
removed. Weights are never downloaded (no internet at run time): random init, or a local checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torchvision
from torch import nn

from trainer.checkpoints import read_checkpoint, strip_prefix
from trainer.errors import TrainerError

#: Named reduced-width timm models (name -> (timm name, kwargs)) for small, fast default models.
VARIANTS: dict[str, tuple[str, dict]] = {
    "resnet10t_w32": ("resnet10t", {"channels": (32, 64, 128, 256)}),  # 1.3 M params, 256 features
    # 80 k params, 64 features: for benchmarks of the data path on CPU (benchmarks/data_throughput.py)
    "resnet10t_w8": ("resnet10t", {"channels": (8, 16, 32, 64), "stem_width": 8}),
}


def build_backbone(name: str = "resnet50", in_channels: int = 3, checkpoint: str | Path | None = None,
                   **kwargs) -> nn.Module:
    """A feature extractor ``(N, C, H, W) -> (N, F)`` with ``.num_features`` = F.

    ``kwargs`` go to :func:`timm.create_model` (e.g. ``channels=(32, 64, 128, 256)`` for a small ResNet
    via ``block_args``/``base_width`` options the model accepts).
    """
    name, defaults = VARIANTS.get(name, (name, {}))
    kwargs = {**defaults, **kwargs}
    if timm.is_model(name):
        model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **kwargs)
    elif name in torchvision.models.list_models(module=torchvision.models):
        model = torchvision_backbone(name, in_channels, **kwargs)
    else:
        raise TrainerError(f"unknown backbone {name!r}: neither a timm nor a torchvision classification model")
    if checkpoint is not None:
        load_backbone_weights(model, checkpoint)
    return model


def torchvision_backbone(name: str, in_channels: int, **kwargs) -> nn.Module:
    """A torchvision classifier (random init) with ``in_channels`` inputs and its last linear layer removed."""
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    modules = dict(model.named_modules())
    convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
    linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
    if not convs or not linears:
        raise TrainerError(f"torchvision model {name!r} has no first convolution or no linear classifier to remove")
    conv = modules[convs[0]]
    model.set_submodule(convs[0], nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                            conv.padding, conv.dilation, bias=conv.bias is not None))
    model.num_features = modules[linears[-1]].in_features
    model.set_submodule(linears[-1], nn.Identity())
    return model


def load_backbone_weights(model: nn.Module, checkpoint: str | Path) -> None:
    """Load a local state dict (plain, or a Lightning checkpoint's ``backbone.*`` keys; a CSP checkpoint
    trained end to end: its ``image_encoder.*``)."""
    path = Path(checkpoint)
    state = read_checkpoint(path, "backbone checkpoint")
    state = state.get("state_dict", state)
    for prefix in ("backbone.", "encoder_q.backbone.", "image_encoder.backbone.", "image_encoder."):
        picked = strip_prefix(state, prefix)
        if picked:
            state = picked
            break
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise TrainerError(f"{path} does not fit this backbone: {key} is {tuple(value.shape)} there, "
                               f"{tuple(own[key].shape)} here (same backbone and bands, in the same order?)")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if len(missing) == len(own):
        raise TrainerError(f"{path} holds no weights for this backbone (missing all keys)")
