"""``python -m trainer prior-exponent --prior P.onnx --image_model I.onnx``: choose the fusion exponent α
of a location prior on validation data and store it in the prior (schema version 2).

α in P(y | image) · P(y | location)^α is the candidate with the lowest fused negative log-likelihood on
the validation split (``split_records(records, 0.2, 0.2, --split_seed)``, never the test split) of the
labelled image source (default ``eurosat``: the split both default models were trained around).
Run after ``python -m trainer export --kind location_prior`` (``scripts/train_default_models.sh`` does);
it also upgrades older (schema v1) priors, which the plugin otherwise fuses with α = 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.errors import TrainerError


def parser() -> argparse.ArgumentParser:
    from trainer.data.bands import EUROSAT_BANDS
    from trainer.evaluation.prior_exponent import DEFAULT_CANDIDATES

    p = argparse.ArgumentParser(prog="python -m trainer prior-exponent", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", required=True, type=Path, help="location prior ONNX file (rewritten in place)")
    p.add_argument("--image_model", required=True, type=Path, help="image classifier ONNX over the same classes")
    p.add_argument("--source", default="eurosat", help="labelled image source (eurosat or a geotagged table)")
    p.add_argument("--table_bands", nargs="+", default=list(EUROSAT_BANDS),
                   help="band order of a table source's files")
    p.add_argument("--split_seed", type=int, default=0, help="seed of the train/val/test split")
    p.add_argument("--candidates", type=float, nargs="+", default=list(DEFAULT_CANDIDATES),
                   help="α values to choose from (0 = image only, 1 = plain product)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from qgis_csp_plugin.contract.onnx_model import OnnxModel
    from trainer.data.registry import image_records
    from trainer.data.splits import split_records
    from trainer.evaluation.prior_exponent import select_exponent, store_exponent

    for path in (args.prior, args.image_model):
        if not path.is_file():
            raise TrainerError(f"model not found: {path}")
    records = image_records(args.source, args.table_bands)
    val = split_records(records[records["label"] >= 0], 0.2, 0.2, args.split_seed)["val"]
    selection = select_exponent(OnnxModel.load(args.prior), OnnxModel.load(args.image_model), val,
                                tuple(args.candidates))
    data = f"validation split of {args.source} (split_records 0.2/0.2, split_seed {args.split_seed})"
    store_exponent(args.prior, selection, data)
    table = ", ".join(f"α={a}: NLL {n:.3f} top-1 {selection['val_top1'][a]:.3f}"
                      for a, n in selection["val_nll"].items())
    print(f"{args.prior}: α = {selection['prior_exponent']:g} chosen on {selection['n_val']} validation "
          f"records with {selection['image_model']} ({table})")
    return 0
