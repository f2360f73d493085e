"""``python -m trainer shards build --source <any source> --out <dir>``: a litdata shard set for streaming.

The train/val/test split is drawn once, by place (the trainer's split policy), when the set is built
(``--val-fraction``, ``--test-fraction``, ``--split-seed``; unlabelled images all go to train) and written as the
folders
``train/ val/ test/``. Train from it with ``--data.sources '[shards:<dir-or-URL>]'`` (``moco fit`` and
classifier training stream ``train/`` and validate/test on ``val/``/``test/``; ``csp fit`` holds
``test/`` out; ``prior --data.source shards:<dir>`` takes the items' coordinates and labels with
the same split). See :mod:`trainer.data.shards`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qgis_csp_plugin.contract.bands import S2_BANDS
from trainer.data.bands import EUROSAT_BANDS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer shards",
                                description="Build litdata shards of (tile pixels, lat, lon, label, timestamp, "
                                            "location_id) from any image source.")
    sub = p.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write the shard set of every tile of a source (atomically)")
    # every option also takes the underscore spelling of the other commands (--table_bands, --tile_size…)
    build.add_argument("--source", required=True,
                       help="eurosat, eurosat_all, eurosat_extra, ssl4eo, multitemporal[:<folder>], a "
                            ".csv/.csv.gz/.parquet table, inat:<root> or fmow:<root>")
    build.add_argument("--out", required=True, type=Path, help="new folder for the shard set")
    build.add_argument("--tile-size", "--tile_size", type=int, default=64)
    build.add_argument("--bands", nargs="+", default=list(S2_BANDS), help="band names to store, in this order")
    build.add_argument("--table-bands", "--table_bands", nargs="+", default=list(EUROSAT_BANDS),
                       help="band order of a table source's files")
    build.add_argument("--workers", type=int, default=1, help="processes reading and writing")
    build.add_argument("--chunk-bytes", "--chunk_bytes", default="64MB", help="size of one shard chunk")
    build.add_argument("--val-fraction", "--val_fraction", type=float, default=0.2,
                       help="share of labelled images in val/")
    build.add_argument("--test-fraction", "--test_fraction", type=float, default=0.2,
                       help="share of labelled images in test/ (0 and --val-fraction 0: everything in train/)")
    build.add_argument("--split-seed", "--split_seed", type=int, default=0, help="seed of the stratified split")
    build.add_argument("--skip-bad", "--skip_bad", action="store_true",
                       help="skip (and count) missing, unreadable, corrupt or too small images instead of stopping")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trainer.data.shard_build import build_shards
    from trainer.data.shards import shard_meta

    out = build_shards(args.source, args.out, args.bands, args.tile_size, args.table_bands, args.workers,
                       args.chunk_bytes, args.skip_bad, args.val_fraction, args.test_fraction, args.split_seed)
    splits = shard_meta(str(out))[0]["splits"]
    print(f"shards written to {out} ({', '.join(f'{name}: {n} items' for name, n in splits.items())}); train with "
          f"--data.sources '[shards:{out}]'")
    return 0
