"""MoCo backbones: timm or torchvision names with any band count, and the pre-trained backbone as CSP's
frozen image encoder (``data.image_encoder_checkpoint`` of the CSP task)."""

from __future__ import annotations

import pytest
import torch
from moco_fixtures import eurosat_csv

from trainer.data.bands import EUROSAT_BANDS
from trainer.errors import TrainerError
from trainer.models.backbones import build_backbone
from trainer.models.frozen import frozen_features
from trainer.tasks.csp_data import CspDataModule
from trainer.tasks.moco import MocoTask

BANDS = list(EUROSAT_BANDS)


def test_torchvision_only_backbone_takes_thirteen_bands():
    torch.manual_seed(0)
    model = MocoTask(backbone="mobilenet_v3_small", bands=BANDS, queue_size=8)
    first = model.encoder_q.backbone.features[0][0]
    assert first.in_channels == 13
    assert model.encoder_q.head[0].in_features == model.encoder_q.backbone.num_features == 1024
    assert model.encoder_q(torch.randn(2, 13, 32, 32)).shape == (2, 128)


def test_named_reduced_width_variants_set_their_widths():
    small = build_backbone("resnet10t_w8", 3)
    assert small.num_features == 64 and small.conv1[3].out_channels == 8  # stem width 8 (timm default 32)
    assert sum(p.numel() for p in small.parameters()) < 100_000
    assert small(torch.randn(2, 3, 64, 64)).shape == (2, 64)
    assert build_backbone("resnet10t_w32", 3).num_features == 256


def test_torchvision_model_without_linear_classifier_is_refused():
    with pytest.raises(TrainerError, match="'squeezenet1_0' has no first convolution or no linear classifier"):
        build_backbone("squeezenet1_0", 3)


@pytest.fixture
def moco_checkpoint(tmp_path):
    """An (untrained) 13-band MoCo checkpoint as Lightning writes it: ``state_dict`` + hyper-parameters."""
    torch.manual_seed(0)
    model = MocoTask(backbone="resnet10t_w32", bands=BANDS, queue_size=8)
    path = tmp_path / "moco.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    return path, model


def test_moco_backbone_is_csp_frozen_image_encoder(tmp_path, moco_checkpoint):
    path, model = moco_checkpoint
    pixels = torch.rand(5, 13, 32, 32) * 3000
    mean, std = pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3))
    features = frozen_features(pixels, mean, std, "resnet10t_w32", str(path))
    with torch.no_grad():
        expected = model.encoder_q.backbone.eval()((pixels - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1))
    torch.testing.assert_close(features, expected)
    data = CspDataModule(sources=[str(eurosat_csv(tmp_path))], bands=BANDS, tile_size=32,
                         image_encoder_checkpoint=str(path), val_fraction=0.25, batch_size=4)
    assert data.feature_dim == 256 and data.features.shape[0] == 16


def test_moco_backbone_with_other_bands_is_refused_clearly(moco_checkpoint):
    path, _ = moco_checkpoint
    with pytest.raises(TrainerError, match=r"does not fit this backbone: conv1\.0\.weight is \(24, 13, 3, 3\) there, "
                                           r"\(24, 12, 3, 3\) here"):
        build_backbone("resnet10t_w32", 12, checkpoint=path)
