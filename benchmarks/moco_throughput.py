"""MoCo training throughput: our LightningModule under ``Trainer.fit`` vs a minimal torch loop.

Same model, data, batch, precision and step (``MocoTask.moco_step``) in one run; prints images/s
of both and their ratio (goal >= 0.9). Warm-up steps are excluded from the timing. On a GPU both
use bf16 autocast (Lightning ``bf16-mixed``), channels_last weights, pinned memory and persistent
loader workers. The 180 EuroSAT training patches are repeated (``--repeat``) so that an epoch holds
many steps, as on real data, instead of timing epoch starts.

    python benchmarks/moco_throughput.py                      # CPU, small ResNet-10t, 64 px
    python benchmarks/moco_throughput.py --device cuda --backbone resnet50 --batch-size 128
"""

from __future__ import annotations

import argparse
import time

import lightning as L
import numpy as np
import torch

from trainer.data.bands import EUROSAT_BANDS
from trainer.data.image_datamodule import ImageDataModule
from trainer.tasks.moco import MocoTask


class StepTimer(L.Callback):
    """Wall time from the end of the warm-up steps to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            _sync(pl_module.device)
            self.start = time.perf_counter()
        self.end = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        self.end = time.perf_counter()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def build(args) -> tuple[MocoTask, ImageDataModule]:
    L.seed_everything(0)
    data = ImageDataModule(sources=["eurosat"], bands=list(EUROSAT_BANDS), key_view="augment",
                           batch_size=args.batch_size, num_workers=args.workers, val_fraction=0.0,
                           test_fraction=0.1, pin_memory=args.device == "cuda",
                           persistent_workers=args.workers > 0)
    data.setup("fit")
    train = data.datasets["train"]
    # the disk-backed tiles, listed args.repeat times (each item is read from its file)
    train.file, train.band_set, train.offsets = (np.tile(a, (args.repeat,) + (1,) * (a.ndim - 1))
                                                 for a in (train.file, train.band_set, train.offsets))
    train.latlon, train.labels = (t.repeat(args.repeat, *[1] * (t.dim() - 1)) for t in (train.latlon, train.labels))
    model = MocoTask(backbone=args.backbone, bands=list(EUROSAT_BANDS), queue_size=args.queue, momentum=0.99)
    if args.device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, data


def lightning_rate(args) -> float:
    model, data = build(args)
    timer = StepTimer(args.warmup)
    trainer = L.Trainer(accelerator=args.device, devices=1, max_steps=args.steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        precision="bf16-mixed" if args.device == "cuda" else "32-true", callbacks=[timer],
                        log_every_n_steps=10)
    trainer.fit(model, datamodule=data)
    return (args.steps - args.warmup) * args.batch_size / (timer.end - timer.start)


def plain_rate(args) -> float:
    model, data = build(args)
    device = torch.device(args.device)
    model.band_mean.copy_(torch.tensor(data.band_mean))
    model.band_std.copy_(torch.tensor(data.band_std))
    model.to(device).train()
    hp = model.hparams
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=hp.lr,
                                momentum=hp.sgd_momentum, weight_decay=hp.weight_decay)
    loader = data.train_dataloader()
    step, start = 0, 0.0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    while step < args.steps:
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast:
                loss, keys, _ = model.moco_step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.queue.enqueue(keys)
            step += 1
            if step == args.warmup:
                _sync(device)
                start = time.perf_counter()
            if step == args.steps:
                break
    _sync(device)
    return (args.steps - args.warmup) * args.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--backbone", default="resnet10t_w32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--queue", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="loader workers (default: 4 on cuda, 0 on cpu)")
    parser.add_argument("--repeat", type=int, default=8, help="copies of the training patches (epoch length)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 4 if args.device == "cuda" else 0
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    plain = plain_rate(args)
    lightning = lightning_rate(args)
    precision = "bf16 autocast, channels_last, pinned memory" if args.device == "cuda" else "fp32"
    print(f"MoCo {args.backbone}, batch {args.batch_size}, {args.device} ({precision}), {args.workers} workers, "
          f"{args.steps - args.warmup} timed steps")
    print(f"plain torch loop : {plain:8.1f} images/s")
    print(f"Lightning (ours) : {lightning:8.1f} images/s")
    print(f"ratio Lightning / plain = {lightning / plain:.3f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
