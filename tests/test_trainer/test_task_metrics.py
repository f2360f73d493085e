"""Task accuracies are torchmetrics collections: exact top-k over the whole split, whatever the batches."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from trainer.tasks.base import topk_accuracies
from trainer.tasks.location_classifier import LocationClassifierTask


def test_top1_and_top3_stay_apart_after_a_first_batch_where_they_agree():
    """Two accuracies with equal states after one batch must not merge (torchmetrics' compute groups would)."""
    metrics = topk_accuracies(4, (1, 3), prefix="test/")
    label = torch.tensor([0, 1])
    metrics.update(torch.eye(4)[:2], label)  # both right: top-1 = top-3 = 1
    metrics.update(torch.tensor([[0.1, 0.5, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4]]), label)  # top-1 wrong, top-3 right
    assert {k: float(v) for k, v in metrics.compute().items()} == {"test/top1": 0.5, "test/top3": 1.0}


def test_held_out_top1_and_top3_are_exact_over_uneven_batches():
    """A test split of 103 points in batches of 40, 40 and 23: the logged top-1/top-3 (and the saved held-out
    top-1) are the fractions of all 103 predictions, not a mean of per-batch values."""
    generator = torch.Generator().manual_seed(0)
    latlon = torch.rand(103, 2, generator=generator) * torch.tensor([160.0, 340.0]) - torch.tensor([80.0, 170.0])
    label = (latlon[:, 1] > 0).long() + 2 * (latlon[:, 0] > 0).long()
    label[::3] = torch.randint(0, 5, (35,), generator=generator)  # noise (and a fifth class): top-3 misses some
    task = LocationClassifierTask(class_names=list("abcde"))
    trainer = L.Trainer(max_steps=30, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, DataLoader(TensorDataset(latlon, label), batch_size=16, shuffle=True))
    results = trainer.test(task, DataLoader(TensorDataset(latlon, label), batch_size=40), verbose=False)[0]
    with torch.no_grad():
        ranked = task.eval()(latlon).argsort(dim=1, descending=True)
    top1 = (ranked[:, 0] == label).float().mean().item()
    top3 = (ranked[:, :3] == label[:, None]).any(dim=1).float().mean().item()
    assert 0 < top1 < top3 < 1  # a split where the two differ
    assert np.isclose(results["test/top1"], top1, atol=1e-7) and np.isclose(results["test/top3"], top3, atol=1e-7)
    assert float(task.heldout_top1) == results["test/top1"]
