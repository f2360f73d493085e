"""``python -m trainer finetune --config trainer/configs/prior_eurosat.yaml [overrides]``.

Trains a location-only classifier (location encoder + linear head,
:class:`trainer.tasks.location_classifier.LocationClassifierTask`) on labelled points
(:class:`trainer.data.points.PointsDataModule`; ``--data.label_ratio 0.05`` for few-label runs),
from random init or ``--model.csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt``, tests it on
the held-out split, prints top-1/top-3 and saves ``<default_root_dir>/final.ckpt`` for
``python -m trainer export --kind location_prior``. Resume with ``--ckpt_path``.
"""

from __future__ import annotations

from pathlib import Path

USAGE = __doc__


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    from trainer.cli.lightning_cli import TrainerCLI, build_cli
    from trainer.data.points import PointsDataModule
    from trainer.tasks.location_classifier import LocationClassifierTask

    class FinetuneCLI(TrainerCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
            parser.add_argument("--ckpt_path", type=str | None, default=None, help="resume from this checkpoint")

    cli = build_cli(FinetuneCLI, LocationClassifierTask, PointsDataModule, argv, run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=cli.config.get("ckpt_path"))
    results = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]
    final = Path(cli.trainer.default_root_dir) / "final.ckpt"
    cli.trainer.save_checkpoint(final)
    print(f"location classifier: held-out top-1 {results['test/top1']:.4f}, top-3 {results['test/top3']:.4f} "
          f"(label ratio {cli.datamodule.hparams.label_ratio:g}); saved {final}")
    return 0

