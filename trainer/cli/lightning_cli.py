"""The one place that builds the trainer's LightningCLIs (csp, moco, prior) and runs them: :func:`fit_test_save`
(train, test on the held-out split, save the tested model) for the commands that train a classifier, and
:func:`quiet_overrides` for runs inside an evaluation (crossval, evaluate).

Every config starts from ``trainer/configs/base.yaml`` (accelerator, loggers, checkpoint callback).
Folders of loggers and callbacks may start with ``<default_root_dir>``, replaced by the run's
``trainer.default_root_dir``, so one base serves every run. Callbacks a run turns off are left out,
with a note, instead of failing in Lightning: ``LearningRateMonitor`` (the MoCo configs) with
``--trainer.logger false``, ``ModelCheckpoint`` with ``--trainer.enable_checkpointing false``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

BASE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "base.yaml"
ROOT_PLACEHOLDER = "<default_root_dir>"
FOLDER_ARGS = ("save_dir", "dirpath")  # loggers' and ModelCheckpoint's folders
#: callbacks Lightning refuses when a trainer setting is off: setting -> class names
TURNED_OFF = {"logger": ("LearningRateMonitor",), "enable_checkpointing": ("ModelCheckpoint",)}


class TrainerCLI(LightningCLI):
    """LightningCLI that resolves ``<default_root_dir>`` in the folders of loggers and callbacks."""

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = str(config.trainer.default_root_dir or ".")
        for spec in _class_specs(config.trainer.logger) + _class_specs(config.trainer.callbacks):
            for key in FOLDER_ARGS:
                value = spec.init_args.get(key)
                if isinstance(value, str) and ROOT_PLACEHOLDER in value:
                    spec.init_args[key] = value.replace(ROOT_PLACEHOLDER, root)
        for setting, names in TURNED_OFF.items():
            callbacks = config.trainer.callbacks
            if config.trainer.get(setting) not in (False, []) or not isinstance(callbacks, list):
                continue  # logger None is Lightning's default logger, not "off"
            dropped = [c for c in callbacks if isinstance(c, Namespace)
                       and str(c.get("class_path", "")).rpartition(".")[2] in names]
            if dropped:
                config.trainer.callbacks = [c for c in callbacks if c not in dropped]
                print(f"note: trainer.{setting} is off: {', '.join(c.class_path for c in dropped)} left out",
                      file=sys.stderr)


class FitTestCLI(TrainerCLI):
    """A command that trains, tests on the held-out split and saves the tested model (:func:`fit_test_save`):
    ``--ckpt_path`` resumes the training, ``--final_checkpoint`` names the saved model."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--ckpt_path", type=str | None, default=None, help="resume from this checkpoint")
        parser.add_argument("--final_checkpoint", type=str | None, default=None,
                            help="where to save the tested model (default <default_root_dir>/final.ckpt)")


def fit_test_save(cli: FitTestCLI, before_test: Callable[[], object] | None = None) -> tuple[dict[str, float], Path]:
    """Fit ``cli.model`` on ``cli.datamodule`` (resuming from ``--ckpt_path``), call ``before_test()``, test on the
    held-out split and save the tested model to ``--final_checkpoint`` (default
    ``<default_root_dir>/final.ckpt``); returns the test metrics and that path."""
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=cli.config.get("ckpt_path"))
    if before_test is not None:
        before_test()
    results = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]
    final = Path(cli.config.get("final_checkpoint") or Path(cli.trainer.default_root_dir) / "final.ckpt")
    cli.trainer.save_checkpoint(final)
    return results, final


def quiet_overrides(out_dir: Path) -> list[str]:
    """Overrides of a run inside an evaluation: in ``out_dir``, without loggers, callbacks, checkpoints, progress
    bar or model summary (the caller saves what it keeps)."""
    return ["--trainer.logger", "false", "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.default_root_dir", str(out_dir)]


def _class_specs(value) -> list[Namespace]:
    """The ``class_path``/``init_args`` entries of a logger or callbacks setting (a list, one, or a flag)."""
    specs = value if isinstance(value, list) else [value]
    return [spec for spec in specs if isinstance(spec, Namespace) and "init_args" in spec]


def build_cli(cli_class: type[TrainerCLI], model_class: type, datamodule_class: type, args: list[str],
              run: bool = True) -> TrainerCLI:
    """``cli_class(model_class, datamodule_class, args=args, run=run)`` with ``base.yaml`` as the first
    ``--config`` (``args`` start with the subcommand when ``run``), saving configs over old ones.

    LightningCLI warns when given ``args`` while ``sys.argv`` also holds some: here that is by design.
    """
    base = ["--config", str(BASE_CONFIG)]
    args = [*args[:1], *base, *args[1:]] if run else [*base, *args]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return cli_class(model_class, datamodule_class, args=args, run=run, save_config_kwargs={"overwrite": True})
