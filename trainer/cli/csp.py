"""``python -m trainer csp {fit,validate} --config trainer/configs/csp_eurosat.yaml [overrides]``.

LightningCLI over :class:`trainer.tasks.csp.CspTask` and :class:`trainer.data.csp_datamodule.CspDataModule`
(the model's ``feature_dim`` follows the data's frozen image features). Resume with
``--ckpt_path last`` or a checkpoint path. GPU: ``--trainer.accelerator gpu --trainer.precision
bf16-mixed``; several GPUs: ``--trainer.devices N --trainer.strategy ddp`` (on CPU, ddp runs
``--trainer.devices N`` processes with the gloo backend).
"""

from __future__ import annotations

import warnings

from trainer.errors import TrainerError

USAGE = __doc__
SUBCOMMANDS = ("fit", "validate")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        raise TrainerError(f"unknown csp command {argv[0]!r}: use {' or '.join(SUBCOMMANDS)}")
    from lightning.pytorch.cli import LightningCLI

    from trainer.data.csp_datamodule import CspDataModule
    from trainer.tasks.csp import CspTask

    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")

    class CspCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.feature_dim", "model.feature_dim", apply_on="instantiate")

    CspCLI(CspTask, CspDataModule, args=argv, save_config_kwargs={"overwrite": True})
    return 0
