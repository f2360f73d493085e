"""``python -m trainer moco {fit,linear-probe,finetune} --config FILE [overrides]`` (LightningCLI).

* ``fit``: MoCo-v2 pre-training (variants moco, moco_geo, moco_tp, moco_geo_tp); resume with
  ``--ckpt_path last`` (or a checkpoint path).
* ``linear-probe`` / ``finetune``: train an image classifier (frozen / end-to-end backbone) on the
  labelled training split (``--data.label_ratio``), test it on the held-out split, print the top-1
  and save ``final.ckpt`` (held-out top-1 inside; ``--final_checkpoint`` to name it) for
  ``python -m trainer export``; resume with ``--ckpt_path``.

:func:`pretrain_for_evaluation` and :func:`classifier_for_evaluation` run both quietly on one fold of a
cross-validation (``python -m trainer crossval``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from trainer.errors import TrainerError

USAGE = __doc__


def _variant_key_view(variant: str) -> str:
    return "temporal" if variant.endswith("_tp") else "augment"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "fit":
        moco_cli(["fit", *rest])
        return 0
    if command in ("linear-probe", "finetune"):
        freeze = command == "linear-probe"
        results, final, cli = _fit_test_save_classifier(rest, freeze)
        mode = "linear probe" if freeze else "fine-tune"
        print(f"{mode}: held-out top-1 {results['test/top1']:.4f} "
              f"(label ratio {cli.datamodule.hparams.label_ratio:g}); saved {final}", file=sys.stdout)
        return 0
    raise TrainerError(f"unknown moco command {command!r}: use fit, linear-probe or finetune")


def moco_cli(argv: list[str], run: bool = True):
    """The LightningCLI over the MoCo task and image data (``run=False``: instantiated only, no subcommand in
    ``argv``)."""
    from trainer.cli.lightning_cli import TrainerCLI, build_cli
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.tasks.moco import MocoTask

    class MocoCLI(TrainerCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.bands", "model.bands")
            parser.link_arguments("data.tile_size", "model.tile_size")
            parser.link_arguments("model.variant", "data.key_view", compute_fn=_variant_key_view)

    return build_cli(MocoCLI, MocoTask, ImageDataModule, argv, run=run)


def _fit_test_save_classifier(args: list[str], freeze: bool):
    """An image classifier (``freeze``: frozen backbone, a linear probe) trained, tested and saved by
    :func:`trainer.cli.lightning_cli.fit_test_save`; ``(test metrics, saved checkpoint, cli)``."""
    from trainer.cli.lightning_cli import FitTestCLI, build_cli, fit_test_save
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.tasks.image_classifier import ImageClassifierTask

    class ClassifierCLI(FitTestCLI):
        def add_arguments_to_parser(self, parser) -> None:
            super().add_arguments_to_parser(parser)
            parser.link_arguments("data.bands", "model.bands")
            parser.link_arguments("data.tile_size", "model.tile_size")

    cli = build_cli(ClassifierCLI, ImageClassifierTask, ImageDataModule,
                    [*args, f"--model.freeze_backbone={str(freeze).lower()}"], run=False)
    if cli.datamodule.hparams.key_view != "none":
        raise TrainerError("classifiers use data.key_view: none")
    results, final = fit_test_save(cli)
    return results, final, cli


def _fold_data(source: str, folds: int, fold: int, split_seed: int) -> list[str]:
    """Overrides: the labelled ``source``, trained on everything but test fold ``fold`` of ``folds``."""
    return ["--data.sources", f"[{source}]", "--data.folds", str(folds), "--data.fold", str(fold),
            "--data.split_seed", str(split_seed)]


def pretrain_for_evaluation(config: str, overrides: list[str], out_dir: Path, source: str, folds: int, fold: int,
                            split_seed: int) -> Path:
    """``moco fit`` with ``config`` on ``source`` without test fold ``fold`` of ``folds`` (``overrides`` last:
    unlabelled sources they add join the training split), quietly; returns the checkpoint it writes to
    ``out_dir/last.ckpt``."""
    from trainer.cli.lightning_cli import quiet_overrides

    cli = moco_cli(["--config", config, *_fold_data(source, folds, fold, split_seed), *quiet_overrides(out_dir),
                    *overrides], run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    checkpoint = out_dir / "last.ckpt"
    cli.trainer.save_checkpoint(checkpoint)
    return checkpoint


def classifier_for_evaluation(configs: list[str], overrides: list[str], out_dir: Path, source: str, folds: int,
                              fold: int, split_seed: int, moco_checkpoint: Path | None = None) -> Path:
    """``moco finetune`` with ``configs`` on ``source`` without test fold ``fold`` of ``folds`` (from
    ``moco_checkpoint`` when given; ``overrides`` last), quietly; returns the tested model it saves to
    ``out_dir/final.ckpt``."""
    from trainer.cli.lightning_cli import quiet_overrides

    init = ["--model.moco_checkpoint", str(moco_checkpoint)] if moco_checkpoint else []
    final = out_dir / "final.ckpt"
    _, saved, _ = _fit_test_save_classifier(
        [*(item for config in configs for item in ("--config", config)), *_fold_data(source, folds, fold, split_seed),
         *init, *quiet_overrides(out_dir), "--final_checkpoint", str(final), *overrides], freeze=False)
    return saved
