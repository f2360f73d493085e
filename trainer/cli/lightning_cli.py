"""The one place that builds the trainer's LightningCLIs (csp, moco, finetune)."""

from __future__ import annotations

import warnings


def build_cli(cli_class: type, model_class: type, datamodule_class: type, args: list[str], run: bool = True):
    """``cli_class(model_class, datamodule_class, args=args, run=run)``, saving configs over old ones.

    LightningCLI warns when given ``args`` while ``sys.argv`` also holds some: here that is by design.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return cli_class(model_class, datamodule_class, args=args, run=run, save_config_kwargs={"overwrite": True})
