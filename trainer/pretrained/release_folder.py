"""A folder of released pre-trained weights (``../shared/pretrained/<model>``): files, licence, checksum.

The folders hold the authors' state dicts, configuration and licence as published (see
``../shared/pretrained/README.md``); nothing is downloaded. Our encoders load the state dicts; the
authors' code in the same folders is only ever run by the parity tests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from trainer.errors import TrainerError

REPO = Path(__file__).resolve().parents[2]
#: Where the team keeps the released weights: ``<repo>/../shared/pretrained``.
PRETRAINED = REPO.parent / "shared" / "pretrained"


@dataclass(frozen=True)
class ReleaseFolder:
    """The files of one release and what they say about themselves."""

    root: Path
    weights: Path
    config: dict
    licence: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.weights.read_bytes()).hexdigest()

    @property
    def copyright(self) -> str:
        """The licence's copyright line, e.g. ``Copyright (c) 2024 Presto Authors``."""
        return next((line.strip() for line in self.licence.splitlines() if line.strip().startswith("Copyright")), "")

    def read_json(self, name: str) -> dict:
        path = self.root / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TrainerError(f"cannot read {path}: {exc}") from exc

    def state(self) -> dict[str, torch.Tensor]:
        try:
            state = torch.load(self.weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # zip/pickle errors all mean a damaged or foreign file
            raise TrainerError(f"cannot read {self.weights}: {str(exc).splitlines()[0][:160]}") from exc
        if not isinstance(state, dict):
            raise TrainerError(f"{self.weights} holds a {type(state).__name__}, not a state dict")
        return state


def open_release(folder: str | Path, weights: str, config: str) -> ReleaseFolder:
    """Check that ``folder`` holds ``weights``, ``config`` and ``LICENSE``; a :class:`TrainerError` says what
    is missing."""
    root = Path(folder)
    if not root.is_dir():
        raise TrainerError(f"{root} is not a folder: give --source, the folder with the released {weights}, "
                           f"{config} and LICENSE (the team's copy is {PRETRAINED})")
    missing = [name for name in (weights, config, "LICENSE") if not (root / name).is_file()]
    if missing:
        raise TrainerError(f"{root} lacks {', '.join(missing)}: it is not the released model's folder")
    release = ReleaseFolder(root, root / weights, {}, (root / "LICENSE").read_text(encoding="utf-8"))
    return ReleaseFolder(root, release.weights, release.read_json(config), release.licence)
