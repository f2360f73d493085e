"""Held-out EuroSAT top-1 of the four MoCo variants, random init and supervised-from-scratch.

Runs the real CLI (``python -m trainer moco fit / linear-probe / finetune``) with the small CPU
configs and prints a markdown table (docs/results/moco_eurosat.md). Minutes on 2 CPU cores.

    python scripts/moco_eurosat_table.py [--ratios 1.0 0.2] [--root runs/moco_eval]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainer.checkpoints import read_checkpoint  # noqa: E402

VARIANTS = ("moco", "moco_geo", "moco_tp", "moco_geo_tp")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]


def trainer(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "trainer", "moco", *args, *QUIET], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"failed: moco {' '.join(args)}\n{result.stderr[-2000:]}")


def classify(mode: str, ratio: float, root: Path, checkpoint: Path | None, options: argparse.Namespace) -> float:
    lr = options.probe_lr if mode == "linear-probe" else options.finetune_lr
    args = [mode, "--config", "trainer/configs/classifier_eurosat_s2.yaml", "--data.label_ratio", str(ratio),
            "--model.lr", str(lr), "--trainer.max_epochs", str(options.epochs),
            "--trainer.default_root_dir", str(root), "--trainer.callbacks", "null",
            "--trainer.enable_checkpointing", "false", "--final_checkpoint", str(root / "final.ckpt")]
    if checkpoint is not None:
        args += ["--model.moco_checkpoint", str(checkpoint)]
    trainer(*args)
    return float(read_checkpoint(root / "final.ckpt")["state_dict"]["heldout_top1"])  # the tested top-1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratios", type=float, nargs="+", default=[1.0, 0.2])
    parser.add_argument("--root", type=Path, default=Path("runs/moco_eval"))
    parser.add_argument("--probe-lr", type=float, default=0.01)
    parser.add_argument("--finetune-lr", type=float, default=0.002)
    parser.add_argument("--epochs", type=int, default=40, help="classifier epochs")
    args = parser.parse_args()
    start = time.time()
    rows: list[tuple[str, list[str]]] = []
    settings: list[tuple[str, Path | None, tuple[str, ...]]] = [
        ("random init (frozen)", None, ("linear-probe",)), ("supervised from scratch", None, ("finetune",))]
    for variant in VARIANTS:
        folder = args.root / variant
        trainer("fit", "--config", "trainer/configs/moco_eurosat_small.yaml", "--model.variant", variant,
                "--trainer.default_root_dir", str(folder), "--trainer.callbacks", "null")
        settings.append((variant, next(folder.rglob("*.ckpt")), ("linear-probe", "finetune")))
    for name, checkpoint, modes in settings:
        cells = []
        for mode in ("linear-probe", "finetune"):
            for ratio in args.ratios:
                if mode in modes:
                    out = args.root / "classifiers" / f"{name.split()[0]}_{mode}_{ratio:g}"
                    cells.append(f"{classify(mode, ratio, out, checkpoint, args):.3f}")
                else:
                    cells.append("-")
        rows.append((name, cells))
        print(name, cells, f"{time.time() - start:.0f} s", file=sys.stderr)
    header = [f"{mode} {ratio:g}" for mode in ("linear probe", "fine-tune") for ratio in args.ratios]
    print("| pre-training | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    for name, cells in rows:
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\n{time.time() - start:.0f} s in all")


if __name__ == "__main__":
    main()
