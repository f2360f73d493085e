"""A script that trains a recording module on 2 CPU processes (Lightning DDP, gloo) and writes each
rank's item indices per epoch: the DDP partition check of disk-backed and sharded datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = '''
import json, sys
import lightning as L
import torch
from trainer.data.image_datamodule import ImageDataModule

class Recorder(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []
    def training_step(self, batch, batch_idx):
        self.seen += batch["index"].tolist()
        return (self.weight * batch["image"].mean()).sum()
    def on_train_epoch_end(self):
        out = f"{sys.argv[2]}/rank{self.global_rank}_epoch{self.current_epoch}.json"
        open(out, "w").write(json.dumps(self.seen))
        self.seen = []
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

data = ImageDataModule(sources=[sys.argv[1]], bands=["B02", "B03", "B04", "B08"], tile_size=32, batch_size=4,
                       val_fraction=0, test_fraction=0, num_workers=1)
trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    default_root_dir=sys.argv[2])
trainer.fit(Recorder(), datamodule=data)
'''


def ddp_indices(source: str, folder: Path) -> dict[tuple[int, int], list[int]]:
    """``{(rank, epoch): item indices}`` of a 2-process DDP run over ``source``."""
    import json

    script = folder / "ddp_record.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script), source, str(folder)], capture_output=True, text=True,
                            timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    return {(rank, epoch): json.loads((folder / f"rank{rank}_epoch{epoch}.json").read_text())
            for rank in (0, 1) for epoch in (0, 1)}
