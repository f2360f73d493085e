"""``python -m trainer prior --config trainer/configs/prior_eurosat.yaml [overrides]``.

Trains a location prior: a location-only classifier (location encoder + linear head,
:class:`trainer.tasks.location_classifier.LocationClassifierTask`) on labelled points
(:class:`trainer.data.points.PointsDataModule`; ``--data.label_ratio 0.05`` for few-label runs),
from random init or ``--model.csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt``, until the validation
log-loss stops improving (``--early_stopping.patience``, epochs; the best validated weights are kept), then
chooses the prior's recipe on the validation split (``--model.prior_recipe auto``: the learned prior, a kNN
prior that carries the labelled points, or a mixture of both, by validation log-loss), tests it on the
held-out split next to the 1-NN and k-NN baselines, prints top-1/top-3 and saves
``<default_root_dir>/final.ckpt`` (or ``--final_checkpoint``) for ``python -m trainer export --kind
location_prior``. Resume with ``--ckpt_path``. (``python -m trainer finetune`` is the old name of this command
and still runs it.)
"""

from __future__ import annotations

USAGE = __doc__


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    from lightning.pytorch.callbacks import EarlyStopping

    from trainer.cli.lightning_cli import FitTestCLI, build_cli, fit_test_save
    from trainer.data.points import PointsDataModule
    from trainer.tasks.early_stopping import MONITOR, BestWeights
    from trainer.tasks.location_classifier import LocationClassifierTask

    class PriorCLI(FitTestCLI):
        def add_arguments_to_parser(self, parser) -> None:
            super().add_arguments_to_parser(parser)
            parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
            parser.add_lightning_class_args(EarlyStopping, "early_stopping")
            parser.set_defaults({"early_stopping.monitor": MONITOR, "early_stopping.mode": "min",
                                 "early_stopping.patience": 10})
            parser.add_lightning_class_args(BestWeights, "best_weights")

    cli = build_cli(PriorCLI, LocationClassifierTask, PointsDataModule, argv, run=False)
    model, data = cli.model, cli.datamodule

    def choose_recipe() -> None:
        best = next(c for c in cli.trainer.callbacks if isinstance(c, BestWeights))
        print(f"location classifier: best validation log-loss {best.best:.4f} at epoch {best.best_epoch} "
              f"({len(best.history)} validations)")
        model.choose_recipe(data.splits["train"], data.splits["val"])

    results, final = fit_test_save(cli, before_test=choose_recipe)
    chosen = model.recipe_selection["chosen"]
    print(f"prior recipe: {chosen} (kNN weight {model.knn_mix:g}, chosen on {len(data.splits['val'])} "
          f"validation points)")
    print(baselines(data.splits, len(model.hparams.class_names)))
    print(f"location prior ({chosen}): held-out top-1 {results['test/top1']:.4f}, top-3 "
          f"{results['test/top3']:.4f} (label ratio {data.hparams.label_ratio:g}); saved {final}")
    return 0


def baselines(splits: dict, n_classes: int) -> str:
    """One line: held-out top-1 of the 1-NN and the k-NN (k chosen on validation), voting with the training and
    validation points (as the kNN part of the prior does)."""
    import pandas as pd

    from trainer.evaluation.nearest_neighbour import choose_k, knn_probabilities

    splits = {**splits, "labelled": pd.concat([splits["train"], splits["val"]])}
    points = {name: (frame[["lat", "lon"]].to_numpy(), frame["label"].to_numpy()) for name, frame in splits.items()}
    if not len(points["val"][1]):
        return "baselines: no validation split to choose k"
    k, _ = choose_k(*points["train"], *points["val"], n_classes)
    top1 = {n: float((knn_probabilities(*points["labelled"], points["test"][0], n_classes, n).argmax(axis=1)
                      == points["test"][1]).mean()) for n in (1, k)}
    return (f"baselines on the held-out split: 1-NN top-1 {top1[1]:.4f}, k-NN (k = {k} on validation) top-1 "
            f"{top1[k]:.4f}")
