"""MoCo-v2 augmentations: the paper's parameters, applied per sample to whole batches of any band count."""

from __future__ import annotations

import torch

from trainer.data.augment import moco_v2_augment

N, BANDS, SIZE = 4000, 13, 64


def test_crop_blur_and_flip_have_the_moco_v2_parameters():
    crop, _, _, blur, flip = moco_v2_augment(SIZE)
    corners = crop.forward_parameters(torch.Size((N, BANDS, SIZE, SIZE)))["src"]
    area = (corners[:, 1, 0] - corners[:, 0, 0] + 1) * (corners[:, 2, 1] - corners[:, 1, 1] + 1) / SIZE**2
    assert 0.19 <= float(area.min()) < 0.25 and 0.9 < float(area.max()) <= 1.0  # scale 0.2-1
    sigma = blur.forward_parameters(torch.Size((N, BANDS, SIZE, SIZE)))["sigma"]
    assert 0.1 <= float(sigma.min()) < 0.15 and 1.95 < float(sigma.max()) <= 2.0
    assert (blur.p, flip.p) == (0.5, 0.5)


def test_jitter_and_grayscale_apply_per_sample_with_their_probabilities():
    torch.manual_seed(0)
    _, jitter, grayscale, _, _ = moco_v2_augment(SIZE)
    x = torch.randn(N, BANDS, 4, 4)
    jittered = (jitter(x) != x).flatten(1).any(dim=1).float().mean()
    assert abs(float(jittered) - 0.8) < 0.03 and (jitter.brightness, jitter.contrast) == (0.4, 0.4)
    gray = grayscale(x)
    uniform = (gray == gray[:, :1]).flatten(1).all(dim=1).float().mean()
    assert abs(float(uniform) - 0.2) < 0.03


def test_one_batched_call_draws_different_views_for_each_sample():
    torch.manual_seed(0)
    views = moco_v2_augment(32)(torch.randn(1, BANDS, 48, 48).expand(8, -1, -1, -1).contiguous())
    assert views.shape == (8, BANDS, 32, 32) and views.dtype == torch.float32
    assert len({tuple(v.flatten()[:16].tolist()) for v in views}) == 8
