"""The YAML configs share ``trainer/configs/base.yaml``; logs and checkpoints follow the run folder."""

from __future__ import annotations

from pathlib import Path

from trainer.cli.csp import csp_cli

CONFIGS = Path(__file__).resolve().parents[2] / "trainer" / "configs"


def test_configs_do_not_repeat_the_base_block():
    for path in CONFIGS.glob("*.yaml"):
        if path.name != "base.yaml":
            text = path.read_text(encoding="utf-8")
            assert "logger:" not in text and "accelerator: auto" not in text, path.name


def test_base_loggers_and_checkpoints_follow_default_root_dir(tmp_path):
    cli = csp_cli(["--config", str(CONFIGS / "csp_eurosat.yaml"), "--trainer.default_root_dir", str(tmp_path)],
                  run=False)
    trainer = cli.trainer
    assert [(type(logger).__name__, logger.save_dir, logger.name) for logger in trainer.loggers] == [
        ("CSVLogger", str(tmp_path), "csv"), ("TensorBoardLogger", str(tmp_path), "tensorboard")]
    checkpoint = trainer.checkpoint_callback
    assert Path(checkpoint.dirpath) == (tmp_path / "checkpoints").resolve() and checkpoint.save_last
    # csp_eurosat.yaml's own settings over the base's
    assert (trainer.max_epochs, trainer.check_val_every_n_epoch, trainer.log_every_n_steps) == (100, 10, 1)
