"""``python -m trainer csp {fit,validate} --config trainer/configs/csp_eurosat.yaml [overrides]``.

LightningCLI over :class:`trainer.tasks.csp.CspTask` and :class:`trainer.tasks.csp_data.CspDataModule`
(the model's ``feature_dim`` follows the data's frozen image features). ``--data.image_encoder_trainable
true`` trains the image encoder end to end instead (pixels streamed from the files or shards at every
step; no feature cache). Resume with
``--ckpt_path last`` or a checkpoint path. GPU: ``--trainer.accelerator gpu --trainer.precision
bf16-mixed``; several GPUs: ``--trainer.devices N --trainer.strategy ddp`` (on CPU, ddp runs
``--trainer.devices N`` processes with the gloo backend).
"""

from __future__ import annotations

from pathlib import Path

from trainer.errors import TrainerError

USAGE = __doc__
SUBCOMMANDS = ("fit", "validate")


def csp_cli(argv: list[str], run: bool = True):
    """The LightningCLI over CSP task and data (``run=False``: instantiated only, no subcommand in ``argv``)."""
    from trainer.cli.lightning_cli import TrainerCLI, build_cli
    from trainer.tasks.csp import CspTask
    from trainer.tasks.csp_data import CspDataModule

    class CspCLI(TrainerCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.feature_dim", "model.feature_dim", apply_on="instantiate")
            parser.link_arguments("data.image_encoder", "model.image_encoder", apply_on="instantiate")

    return build_cli(CspCLI, CspTask, CspDataModule, argv, run=run)


def pretrain_for_evaluation(config: str, overrides: list[str], out_dir: Path, split_seed: int, folds: int = 0,
                            fold: int = 0) -> Path:
    """``csp fit`` with ``config`` (+ ``overrides``) without the evaluation's test split (or test fold
    ``fold`` of ``folds``), quietly, no logger; returns the checkpoint written to ``out_dir/last.ckpt``."""
    from trainer.cli.lightning_cli import quiet_overrides

    split = ["--data.split_seed", str(split_seed), "--data.eval_folds", str(folds), "--data.eval_fold", str(fold)]
    cli = csp_cli(["--config", config, *overrides, *quiet_overrides(out_dir), *split], run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    checkpoint = out_dir / "last.ckpt"
    cli.trainer.save_checkpoint(checkpoint)
    return checkpoint


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        raise TrainerError(f"unknown csp command {argv[0]!r}: use {' or '.join(SUBCOMMANDS)}")
    csp_cli(argv)
    return 0
