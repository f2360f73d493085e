"""Location-only classifier P(y | lat, lon): a location encoder + linear head (a location prior).

Starts from random init, from a CSP checkpoint (``csp_checkpoint``: its encoder architecture and
weights are taken, and the path is then dropped from the saved hyper-parameters so the fine-tuned
checkpoint rebuilds on its own) or from a released pretrained encoder (``pretrained_encoder``:
``geoclip`` = the installed GeoCLIP package's weights, :mod:`trainer.pretrained.geoclip_release`).
Two losses: ``softmax`` (cross-entropy, P(y | x) sums to 1) and ``presence_only`` (CSP's
fine-tuning loss, :func:`trainer.losses.presence.presence_only_loss`: one sigmoid per class, a bias-free
head as in the authors' code, random background locations).
Exports kind ``location_prior`` with ``output_activation`` ``softmax`` or ``sigmoid``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qgis_csp_plugin.contract.schema import LATLON_INPUT, PROBABILITIES_OUTPUT, Kind, ModelMetadata
from trainer.checkpoints import read_checkpoint, strip_prefix
from trainer.data.sources import known_class_colors
from trainer.encoders import build_location_encoder
from trainer.errors import TrainerError
from trainer.export.pca_basis import global_grid
from trainer.export.spec import ExportSpec
from trainer.losses.csp import uniform_sphere_latlon
from trainer.losses.presence import presence_only_loss
from trainer.tasks.base import ClassifierTask
from trainer.tasks.csp import with_default_params

#: Output activation of the prior trained with each loss.
ACTIVATIONS = {"softmax": "softmax", "presence_only": "sigmoid"}


def probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """Softmax over classes, or one independent sigmoid (presence probability) per class."""
    return torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=1)


class Standardise(nn.Module):
    """``(x - mean) / std`` per embedding dimension, statistics fixed at construction (buffers)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std.clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    @classmethod
    @torch.no_grad()
    def over_the_globe(cls, encoder: nn.Module, step_deg: float = 4.0) -> Standardise:
        """Statistics of ``encoder`` (eval mode) over a regular global grid: no labels involved."""
        was_training = encoder.training
        embeddings = encoder.eval()(global_grid(step_deg))
        encoder.train(was_training)
        return cls(embeddings.mean(dim=0), embeddings.std(dim=0))


class ClassPrior(nn.Module):
    """``latlon (N, 2)`` degrees → class probabilities ``(N, K)`` (``activation``: softmax or sigmoid)."""

    def __init__(self, encoder: nn.Module, head: nn.Linear, activation: str) -> None:
        super().__init__()
        self.encoder, self.head, self.activation = encoder, head, activation

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        return probabilities(self.head(self.encoder(latlon)), self.activation)


def csp_encoder_state(path: str | Path) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """Name, params and weights of the location encoder in a CSP checkpoint."""
    checkpoint = read_checkpoint(path, "CSP checkpoint")
    hparams = checkpoint.get("hyper_parameters", {})
    state = strip_prefix(checkpoint.get("state_dict", {}), "location_encoder.")
    if "location_encoder" not in hparams or not state:
        raise TrainerError(f"{path} is not a CSP checkpoint (no location encoder inside)")
    params = with_default_params(hparams["location_encoder"], hparams.get("encoder_params"))
    return hparams["location_encoder"], params, state


def pretrained_encoder_state(name: str) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], str]:
    """Name, params and weights of a released encoder (``geoclip``), and where they come from."""
    if name != "geoclip":
        raise TrainerError(f"pretrained_encoder {name!r} is unknown; available: geoclip")
    from trainer.pretrained.geoclip_release import (
        PACKAGE,
        encoder_from_state,
        find_release,
        load_state,
    )

    release = find_release()
    encoder = encoder_from_state(load_state(release))
    config = encoder.config()
    return config["name"], config["params"], encoder.state_dict(), f"{PACKAGE}=={release.version}"


class LocationClassifierTask(ClassifierTask):
    """Fine-tune a location encoder + linear head on labelled points (batches ``(latlon, label)``)."""

    EXPORT_KINDS = (Kind.LOCATION_PRIOR,)

    def __init__(self, class_names: list[str], location_encoder: str = "sphereC+",
                 encoder_params: dict[str, Any] | None = None, csp_checkpoint: str | None = None,
                 freeze_encoder: bool = False, loss: str = "softmax", num_random_locations: int | None = None,
                 lr: float = 1e-3, weight_decay: float = 0.0, name: str = "Location prior",
                 initialised_from: str | None = None, pretrained_encoder: str | None = None,
                 standardise_embedding: bool = False) -> None:
        """``loss``: ``softmax`` or ``presence_only``; ``num_random_locations``: background locations per
        step of the presence-only loss (default: as many as labelled locations in the batch, as in the
        authors' code). ``initialised_from`` is set from ``csp_checkpoint`` or ``pretrained_encoder``
        (kept when reloading); ``freeze_encoder`` keeps the encoder's weights fixed (a linear probe).
        ``standardise_embedding``: the head sees the embedding standardised per dimension with its
        mean/std over the globe at initialisation (for encoders with tiny outputs, e.g. GeoCLIP's)."""
        super().__init__()
        if len(class_names) < 2:
            raise TrainerError(f"a location classifier needs at least 2 classes, got {class_names}")
        if loss not in ACTIVATIONS:
            raise TrainerError(f"location classifier loss {loss!r} is not one of {', '.join(ACTIVATIONS)}")
        self.save_hyperparameters()
        if csp_checkpoint is not None and pretrained_encoder is not None:
            raise TrainerError("give csp_checkpoint or pretrained_encoder, not both")
        state = None
        if csp_checkpoint is not None:
            location_encoder, encoder_params, state = csp_encoder_state(csp_checkpoint)
            self.hparams.update(location_encoder=location_encoder, encoder_params=encoder_params,
                                csp_checkpoint=None, initialised_from=str(csp_checkpoint))
        elif pretrained_encoder is not None:
            location_encoder, encoder_params, state, source = pretrained_encoder_state(pretrained_encoder)
            self.hparams.update(location_encoder=location_encoder, encoder_params=encoder_params,
                                pretrained_encoder=None, initialised_from=source)
        self.encoder = build_location_encoder(location_encoder, **with_default_params(location_encoder, encoder_params))
        if state is not None:
            self.encoder.load_state_dict(state)
        self.encoder.requires_grad_(not freeze_encoder)
        self.activation = ACTIVATIONS[loss]
        self.head = nn.Linear(self.encoder.out_dim, len(class_names), bias=loss == "softmax")
        self.standardise = Standardise.over_the_globe(self.encoder) if standardise_embedding else nn.Identity()
        # Bounding box of the training locations (lat min/max, lon min/max), exported so the plugin can
        # warn when a prior is used far from where it was trained.
        inf = float("inf")
        self.register_buffer("train_bounds", torch.tensor([inf, -inf, inf, -inf]))

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, K)``."""
        return self.head(self.standardise(self.encoder(latlon)))

    def _loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "softmax":
            return F.cross_entropy(logits, label)
        n_random = self.hparams.num_random_locations or len(label)
        background = self(uniform_sphere_latlon(n_random, logits.device))
        return presence_only_loss(logits, label, background)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        latlon, label = batch
        with torch.no_grad():
            low, high = latlon.min(dim=0).values, latlon.max(dim=0).values
            bounds = torch.stack([low[0], high[0], low[1], high[1]]).to(self.train_bounds)
            pick_max = torch.tensor([False, True, False, True], device=bounds.device)
            self.train_bounds.copy_(torch.where(pick_max, torch.maximum(self.train_bounds, bounds),
                                                torch.minimum(self.train_bounds, bounds)))
        loss = self._loss(self(latlon), label)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(label))
        return loss

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> None:
        latlon, label = batch
        logits = self(latlon)
        top3 = logits.topk(min(3, logits.shape[1]), dim=1).indices
        metrics = {"loss": self._loss(logits, label), "top1": (top3[:, 0] == label).float().mean(),
                   "top3": (top3 == label[:, None]).any(dim=1).float().mean()}
        self.log_dict({f"{split}/{k}": v for k, v in metrics.items()}, prog_bar=split == "val",
                      batch_size=len(label), sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    @torch.no_grad()
    def predict_proba(self, latlon: torch.Tensor) -> torch.Tensor:
        """Eval-mode class probabilities (softmax) or presence probabilities (sigmoid) of ``latlon`` (N, 2)."""
        self.eval()
        return probabilities(self(latlon.to(self.device)), self.activation).cpu()

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def _bounds_summary(self) -> dict[str, dict[str, list[float]]]:
        """``{"latlon_bounds": {"lat": [min, max], "lon": [min, max]}}`` once trained, else ``{}``."""
        bounds = self.train_bounds.tolist()
        if not all(math.isfinite(v) for v in bounds):
            return {}
        return {"latlon_bounds": {"lat": bounds[:2], "lon": bounds[2:]}}

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        hp = self.hparams
        module = ClassPrior(nn.Sequential(copy.deepcopy(self.encoder), copy.deepcopy(self.standardise)),
                            copy.deepcopy(self.head), self.activation).float().cpu().eval()
        what = ("P(class | lat, lon)" if self.activation == "softmax"
                else "presence probability of each class at (lat, lon) (independent sigmoids)")
        metadata = ModelMetadata(
            kind=Kind.LOCATION_PRIOR, name=options.get("name", hp.name),
            description=f"{what} from a {self.encoder.name} location encoder",
            class_names=list(hp.class_names), class_colors=known_class_colors(list(hp.class_names)),
            output_activation=self.activation, location_encoder=self.encoder.config(),
            metrics=self.heldout_metrics(),
            training={"method": "location_classifier", "loss": hp.loss,
                      "initialised_from": hp.get("initialised_from"), **self._bounds_summary()})
        example = torch.tensor([[48.85, 2.35], [-33.9, 151.2], [0.0, -180.0]])
        atol = getattr(self.encoder, "export_atol", 1e-4)  # looser only for encoders that declare it
        return ExportSpec(module, (example,), (LATLON_INPUT,), PROBABILITIES_OUTPUT, metadata, atol=atol)
