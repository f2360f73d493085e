"""``python -m trainer moco {fit,linear-probe,finetune} --config FILE [overrides]`` (LightningCLI).

* ``fit``: MoCo-v2 pre-training (variants moco, moco_geo, moco_tp, moco_geo_tp); resume with
  ``--ckpt_path last`` (or a checkpoint path).
* ``linear-probe`` / ``finetune``: train an image classifier (frozen / end-to-end backbone) on the
  labelled training split (``--data.label_ratio``), test it on the held-out split, print the top-1
  and save ``final.ckpt`` (held-out top-1 inside) for ``python -m trainer export``.
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
        return _fit(rest)
    if command in ("linear-probe", "finetune"):
        return _classifier(rest, freeze=command == "linear-probe")
    raise TrainerError(f"unknown moco command {command!r}: use fit, linear-probe or finetune")


def _fit(args: list[str]) -> int:
    from trainer.cli.lightning_cli import TrainerCLI, build_cli
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.tasks.moco import MocoTask

    class MocoCLI(TrainerCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.bands", "model.bands")
            parser.link_arguments("data.tile_size", "model.tile_size")
            parser.link_arguments("model.variant", "data.key_view", compute_fn=_variant_key_view)

    build_cli(MocoCLI, MocoTask, ImageDataModule, ["fit", *args])
    return 0


def _classifier(args: list[str], freeze: bool) -> int:
    from trainer.cli.lightning_cli import TrainerCLI, build_cli
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.tasks.image_classifier import ImageClassifierTask

    class ClassifierCLI(TrainerCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.bands", "model.bands")
            parser.link_arguments("data.tile_size", "model.tile_size")
            parser.add_argument("--final_checkpoint", type=str | None, default=None,
                                help="where to save the tested model (default <default_root_dir>/final.ckpt)")

    cli = build_cli(ClassifierCLI, ImageClassifierTask, ImageDataModule,
                    [*args, f"--model.freeze_backbone={str(freeze).lower()}"], run=False)
    if cli.datamodule.hparams.key_view != "none":
        raise TrainerError("classifiers use data.key_view: none")
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    results = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    final = Path(cli.config.get("final_checkpoint") or Path(cli.trainer.default_root_dir) / "final.ckpt")
    cli.trainer.save_checkpoint(final)
    mode = "linear probe" if freeze else "fine-tune"
    print(f"{mode}: held-out top-1 {results[0]['test/top1']:.4f} "
          f"(label ratio {cli.datamodule.hparams.label_ratio:g}); saved {final}", file=sys.stdout)
    return 0
