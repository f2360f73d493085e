"""``python -m trainer finetune --config trainer/configs/prior_eurosat.yaml [overrides]``.

Trains a location-only classifier (location encoder + linear head,
:class:`trainer.tasks.location_classifier.LocationClassifierTask`) on labelled points
(:class:`trainer.data.points.PointsDataModule`; ``--data.label_ratio 0.05`` for few-label runs),
from random init or ``--model.csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt``, tests it on
the held-out split, prints top-1/top-3 and saves ``<default_root_dir>/final.ckpt`` for
``python -m trainer export --kind location_prior``. Resume with ``--ckpt_path``.

``python -m trainer finetune fuse --image_checkpoint A.ckpt --location_checkpoint B.ckpt --out F.onnx``
exports a ``fused`` model (image + latlon in, P(y | I, x) out) from an image classifier
(``python -m trainer moco linear-probe|finetune``) and a location prior on the same classes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

USAGE = __doc__


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "fuse":
        return _fuse(argv[1:])
    from lightning.pytorch.cli import LightningCLI

    from trainer.data.points import PointsDataModule
    from trainer.tasks.location_classifier import LocationClassifierTask

    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")

    class FinetuneCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
            parser.add_argument("--ckpt_path", type=str | None, default=None, help="resume from this checkpoint")

    cli = FinetuneCLI(LocationClassifierTask, PointsDataModule, run=False, args=argv,
                      save_config_kwargs={"overwrite": True})
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=cli.config.get("ckpt_path"))
    results = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]
    final = Path(cli.trainer.default_root_dir) / "final.ckpt"
    cli.trainer.save_checkpoint(final)
    print(f"location classifier: held-out top-1 {results['test/top1']:.4f}, top-3 {results['test/top3']:.4f} "
          f"(label ratio {cli.datamodule.hparams.label_ratio:g}); saved {final}")
    return 0


def _fuse(argv: list[str]) -> int:
    import argparse

    from trainer.export.checkpoint import load_task
    from trainer.export.onnx_writer import export_onnx
    from trainer.tasks.fused import fused_export_spec

    parser = argparse.ArgumentParser(prog="python -m trainer finetune fuse")
    parser.add_argument("--image_checkpoint", required=True, help="image classifier checkpoint")
    parser.add_argument("--location_checkpoint", required=True, help="location prior checkpoint")
    parser.add_argument("--out", required=True, help="output .onnx")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    spec = fused_export_spec(load_task(args.image_checkpoint).export_spec("image_classifier"),
                             load_task(args.location_checkpoint).export_spec("location_prior"), args.name)
    report = export_onnx(spec, args.out)
    print(f"wrote {args.out}: {spec.metadata.name} (fused); {report}")
    return 0
