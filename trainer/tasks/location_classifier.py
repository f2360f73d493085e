"""Location-only classifier P(y | lat, lon): a location encoder + linear head (a location prior).

Starts from random init, from a CSP checkpoint (``csp_checkpoint``: its encoder architecture and
weights are taken, and the path is then dropped from the saved hyper-parameters so the fine-tuned
checkpoint rebuilds on its own) or from a released pretrained encoder (``pretrained_encoder``:
``geoclip`` = the installed GeoCLIP package's weights, :mod:`trainer.pretrained.geoclip_release`).
Two losses: ``softmax`` (cross-entropy, P(y | x) sums to 1) and ``presence_only`` (CSP's
fine-tuning loss, :func:`trainer.losses.presence.presence_only_loss`: one sigmoid per class, a bias-free
head as in the authors' code, random background locations).
Exports kind ``location_prior`` with ``output_activation`` ``softmax`` or ``sigmoid``.

Training: ``lr_schedule`` (``constant``, ``cosine`` or ``plateau``: ×0.3 after 3 validations without a lower
``val/loss``) and ``encoder_lr`` (the encoder's own, smaller learning rate when fine-tuning a pretrained
encoder); ``probe_init`` first fits the head as a logistic regression on the frozen encoder's embeddings of
the training points (the frozen phase), then the whole model trains. Early stopping on ``val/loss`` and the
best validated weights: :mod:`trainer.tasks.early_stopping` (the prior configs use it).

Recipe (``prior_recipe``): after training, :meth:`LocationClassifierTask.choose_recipe` fits a kNN prior on the
labelled points (:mod:`qgis_csp_plugin.contract.knn_prior`: soft vote of the k nearest on great-circle distance;
k, bandwidth and flat pseudo-count chosen on validation) and the weight m of P = m · P_knn + (1 − m) · P_learned by the
validation log-loss: m = 0 is the learned prior, m = 1 the kNN prior, between a hybrid (``auto``, the
default); ``learned``, ``knn`` or ``hybrid`` force one. The kNN part (points, labels, bandwidth, m) is saved in
the checkpoint and exported inside the ONNX graph.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from qgis_csp_plugin.contract.knn_prior import (
    ENCODER_NAME,
    MAX_POINTS,
    MIX_WEIGHTS,
    KnnPrior,
    hybrid_prior_model,
    knn_prior_model,
    log_loss,
    per_class_subsample,
    recipe_of_mix,
    select_knn_prior,
    select_mix,
)
from qgis_csp_plugin.contract.schema import LATLON_INPUT, PROBABILITIES_OUTPUT, Kind, ModelMetadata
from trainer.checkpoints import read_checkpoint, strip_prefix
from trainer.data.catalog import known_class_colors
from trainer.encoders import build_location_encoder
from trainer.errors import TrainerError
from trainer.export.onnx_writer import traced_onnx
from trainer.export.pca_basis import global_grid
from trainer.export.spec import ExportSpec
from trainer.losses.csp import uniform_sphere_latlon
from trainer.losses.presence import presence_only_loss
from trainer.tasks.base import ClassifierTask
from trainer.tasks.csp import with_default_params

#: Output activation of the prior trained with each loss.
ACTIVATIONS = {"softmax": "softmax", "presence_only": "sigmoid"}
LR_SCHEDULES = ("constant", "cosine", "plateau")
#: ``auto`` chooses among the others on validation.
RECIPES = ("auto", "learned", "knn", "hybrid")
#: Name of the learned part's output inside a hybrid graph.
LEARNED_OUTPUT = "learned_probabilities"


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

    @classmethod
    def placeholder(cls, dim: int) -> Standardise:
        """Identity statistics, set later (a probe-initialised head; checkpoints restore them)."""
        return cls(torch.zeros(dim), torch.ones(dim))


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
                 standardise_embedding: bool = False, lr_schedule: str = "constant", encoder_lr: float | None = None,
                 probe_init: bool = False, prior_recipe: str = "auto", max_prior_points: int = MAX_POINTS) -> None:
        """``loss``: ``softmax`` or ``presence_only``; ``num_random_locations``: background locations per
        step of the presence-only loss (default: as many as labelled locations in the batch, as in the
        authors' code). ``initialised_from`` is set from ``csp_checkpoint`` or ``pretrained_encoder``
        (kept when reloading); ``freeze_encoder`` keeps the encoder's weights fixed (a linear probe).
        ``standardise_embedding``: the head sees the embedding standardised per dimension with its
        mean/std over the globe at initialisation (for encoders with tiny outputs, e.g. GeoCLIP's).
        ``lr_schedule``, ``encoder_lr``, ``probe_init``, ``prior_recipe``: see the module docstring;
        ``max_prior_points``: the kNN part keeps at most this many points (subsampled per class)."""
        super().__init__()
        if len(class_names) < 2:
            raise TrainerError(f"a location classifier needs at least 2 classes, got {class_names}")
        if loss not in ACTIVATIONS:
            raise TrainerError(f"location classifier loss {loss!r} is not one of {', '.join(ACTIVATIONS)}")
        if lr_schedule not in LR_SCHEDULES:
            raise TrainerError(f"lr_schedule {lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}")
        if prior_recipe not in RECIPES:
            raise TrainerError(f"prior_recipe {prior_recipe!r} is not one of {', '.join(RECIPES)}")
        if prior_recipe in ("knn", "hybrid") and loss != "softmax":
            raise TrainerError(f"prior_recipe {prior_recipe!r} needs the softmax loss (a kNN vote is P(y | x))")
        if encoder_lr is not None and not encoder_lr > 0:
            raise TrainerError(f"encoder_lr {encoder_lr!r} must be positive")
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
        self.init_accuracies(len(class_names), {"val": (1, 3), "test": (1, 3)})
        self.standardise = (Standardise.over_the_globe(self.encoder) if standardise_embedding
                            else Standardise.placeholder(self.encoder.out_dim) if probe_init else nn.Identity())
        self.register_buffer("probe_done", torch.tensor(False))
        self.knn: KnnPrior | None = None  # the kNN part of the chosen recipe (choose_recipe)
        self.knn_mix = 0.0
        self.recipe_selection: dict[str, Any] = {}
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
        """Loss, top-1 and top-3 of the learned prior; on ``test`` of the chosen recipe once it has a kNN part."""
        latlon, label = batch
        logits = self(latlon)
        loss = self._loss(logits, label)
        if split == "test" and self.knn is not None:
            logits = torch.from_numpy(self.prior_probabilities(latlon)).to(logits).clamp_min(1e-12).log()
            loss = F.nll_loss(logits, label)
        self.log(f"{split}/loss", loss, prog_bar=split == "val", batch_size=len(label), sync_dist=True)
        self.log_accuracies(split, logits, label, prog_bar=split == "val")

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
        hp = self.hparams
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        ids = {id(p) for p in encoder}
        groups = [{"params": [p for p in self.parameters() if p.requires_grad and id(p) not in ids], "lr": hp.lr}]
        if encoder:
            groups.append({"params": encoder, "lr": hp.encoder_lr or hp.lr})
        optimizer = torch.optim.Adam(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.lr_schedule == "cosine":
            steps = max(1, int(self.trainer.estimated_stepping_batches))
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        if hp.lr_schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.3, patience=3)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}
        return optimizer

    def on_fit_start(self) -> None:
        """The frozen phase of ``probe_init``: fit the head on the encoder's embeddings of the training points
        (before the first validation, so that the frozen-phase model is a candidate of early stopping)."""
        if not self.hparams.probe_init or bool(self.probe_done):
            return
        datamodule = self.trainer.datamodule
        if datamodule is None:
            raise TrainerError("probe_init needs a datamodule, or a head fitted beforehand (init_head_from_probe)")
        latlon, labels = (torch.cat(parts) for parts in zip(*datamodule.train_dataloader(), strict=True))
        was_training = self.encoder.training
        with torch.no_grad():
            embeddings = torch.cat([self.encoder.eval()(chunk.to(self.device)).cpu() for chunk in latlon.split(4096)])
        self.encoder.train(was_training)
        self.init_head_from_probe(embeddings.numpy(), labels.numpy())

    def init_head_from_probe(self, embeddings: np.ndarray, labels: np.ndarray, c: float = 1.0, seed: int = 0) -> None:
        """Set the standardisation and head to a standardised multinomial logistic regression (L2, ``c`` as in
        scikit-learn) fitted on frozen ``embeddings`` (N, D) of the training points."""
        if not self.hparams.probe_init or self.hparams.loss != "softmax":
            raise TrainerError("init_head_from_probe needs probe_init and the softmax loss")
        from sklearn.linear_model import LogisticRegression

        mean, std = embeddings.mean(axis=0), embeddings.std(axis=0).clip(1e-6)
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit((embeddings - mean) / std, labels)
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2 and coef.shape[0] == 1:  # binary: sigmoid(z) = softmax([-z/2, z/2])
            coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        weight = np.full((self.head.out_features, coef.shape[1]), 0.0)
        bias = np.full(self.head.out_features, -30.0)  # classes without a training point: never predicted
        weight[model.classes_], bias[model.classes_] = coef, intercept
        with torch.no_grad():
            self.standardise.mean.copy_(torch.from_numpy(mean))
            self.standardise.std.copy_(torch.from_numpy(std))
            self.head.weight.copy_(torch.from_numpy(weight))
            self.head.bias.copy_(torch.from_numpy(bias))
        self.probe_done.fill_(True)

    def choose_recipe(self, train: pd.DataFrame, val: pd.DataFrame) -> dict[str, Any]:
        """Choose learned, kNN or hybrid on ``val`` (tables with ``lat, lon, label``), per ``prior_recipe``; the
        kNN part keeps the points of ``train`` and ``val`` (its bandwidth and flat count chosen on ``val``)."""
        hp = self.hparams
        if hp.prior_recipe == "learned" or (hp.prior_recipe == "auto" and hp.loss != "softmax"):
            self.knn, self.knn_mix = None, 0.0
            self.recipe_selection = {"chosen": "learned", "rule": f"prior_recipe {hp.prior_recipe}"}
            return self.recipe_selection
        if not len(val):
            raise TrainerError("choosing the prior recipe needs a non-empty validation split")
        latlon = lambda frame: frame[["lat", "lon"]].to_numpy(np.float64)  # noqa: E731
        n_classes = len(hp.class_names)
        val_labels = val["label"].to_numpy()
        knn, knn_selection = select_knn_prior(latlon(train), train["label"].to_numpy(), n_classes, latlon(val),
                                              val_labels, max_points=hp.max_prior_points)
        p_learned = self.predict_proba(torch.from_numpy(latlon(val)).float()).double().numpy()
        weights = {"auto": MIX_WEIGHTS, "knn": (1.0,), "hybrid": [m for m in MIX_WEIGHTS if 0 < m < 1]}[hp.prior_recipe]
        mix, losses = select_mix(knn.probabilities(latlon(val)), p_learned, val_labels, weights)
        both = pd.concat([train, val])
        keep = per_class_subsample(both["label"].to_numpy(), hp.max_prior_points)
        self.knn = None if mix == 0 else KnnPrior(latlon(both)[keep], both["label"].to_numpy()[keep], n_classes,
                                                  knn.k, knn.sharpness, knn.bandwidth_deg, knn.flat_count)
        self.knn_mix = mix
        self.recipe_selection = {
            "chosen": recipe_of_mix(mix), "rule": f"prior_recipe {hp.prior_recipe}: lowest validation log-loss of "
            "m · P_knn + (1 - m) · P_learned (m = 0 learned, 1 kNN, else hybrid)", "knn_weight": mix,
            "val_log_loss_by_knn_weight": losses, "val_log_loss_learned": round(log_loss(p_learned, val_labels), 5),
            "n_val": int(len(val)), "knn": knn_selection}
        return self.recipe_selection

    def prior_probabilities(self, latlon: torch.Tensor) -> np.ndarray:
        """P(y | x) of the chosen recipe (what the export computes) at ``latlon`` (N, 2), float64."""
        learned = self.predict_proba(latlon).double().numpy()
        if self.knn is None:
            return learned
        return self.knn_mix * self.knn.probabilities(latlon.double().numpy()) + (1 - self.knn_mix) * learned

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.knn is not None:
            checkpoint["knn_prior"] = {
                "latlon": torch.from_numpy(np.asarray(self.knn.latlon, np.float64)),
                "labels": torch.from_numpy(np.asarray(self.knn.labels, np.int64)),
                "k": self.knn.k, "sharpness": self.knn.sharpness, "bandwidth_deg": self.knn.bandwidth_deg,
                "flat_count": self.knn.flat_count, "mix": self.knn_mix}
        if self.recipe_selection:
            checkpoint["prior_recipe_selection"] = self.recipe_selection

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("knn_prior")
        if saved is not None:
            self.knn = KnnPrior(saved["latlon"].numpy(), saved["labels"].numpy(), len(self.hparams.class_names),
                                saved["k"], saved["sharpness"], saved["bandwidth_deg"], saved["flat_count"])
            self.knn_mix = float(saved["mix"])
        self.recipe_selection = checkpoint.get("prior_recipe_selection", {})

    def _bounds_summary(self) -> dict[str, dict[str, list[float]]]:
        """``{"latlon_bounds": {"lat": [min, max], "lon": [min, max]}}`` once trained, else ``{}``."""
        bounds = self.train_bounds.tolist()
        if not all(math.isfinite(v) for v in bounds):
            return {}
        return {"latlon_bounds": {"lat": bounds[:2], "lon": bounds[2:]}}

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        hp = self.hparams
        learned = ClassPrior(nn.Sequential(copy.deepcopy(self.encoder), copy.deepcopy(self.standardise)),
                             copy.deepcopy(self.head), self.activation).float().cpu().eval()
        recipe = "learned" if self.knn is None else recipe_of_mix(self.knn_mix)
        what = ("P(class | lat, lon)" if self.activation == "softmax"
                else "presence probability of each class at (lat, lon) (independent sigmoids)")
        encoder = self.encoder.config()
        if recipe == "learned":
            description = f"{what} from a {self.encoder.name} location encoder"
        else:
            knn = self.knn
            vote = (f"vote of the {knn.voters} nearest of {len(knn.labels)} labelled points on great-circle distance "
                    f"(bandwidth {knn.bandwidth_deg:g}°, flat far from them)")
            description = (f"{what}: {vote}" if recipe == "knn" else
                           f"{what}: {self.knn_mix:g} × {vote} + {1 - self.knn_mix:g} × a {self.encoder.name} "
                           "location encoder + linear head")
            encoder = ({"name": ENCODER_NAME, "params": knn.params()} if recipe == "knn" else
                       {"name": f"{self.encoder.name}+{ENCODER_NAME}",
                        "params": {"knn_weight": self.knn_mix, "knn": knn.params(), "learned": encoder}})
        metadata = ModelMetadata(
            kind=Kind.LOCATION_PRIOR, name=options.get("name", hp.name), description=description,
            class_names=list(hp.class_names), class_colors=known_class_colors(list(hp.class_names)),
            output_activation=self.activation, location_encoder=encoder,
            metrics=self.heldout_metrics(),
            training={"method": "location_classifier", "loss": hp.loss,
                      "initialised_from": hp.get("initialised_from"), **self._bounds_summary(),
                      "prior_recipe": self.recipe_selection or {"chosen": "learned", "rule": "not chosen"}})
        example = torch.tensor([[48.85, 2.35], [-33.9, 151.2], [0.0, -180.0]])
        atol = getattr(self.encoder, "export_atol", 1e-4)  # looser only for encoders that declare it
        if recipe == "learned":
            return ExportSpec(learned, (example,), (LATLON_INPUT,), PROBABILITIES_OUTPUT, metadata, atol=atol)
        knn, mix = self.knn, self.knn_mix
        graph = ((lambda: knn_prior_model(knn, {})) if recipe == "knn" else
                 (lambda: hybrid_prior_model(traced_onnx(learned, (example,), (LATLON_INPUT,), LEARNED_OUTPUT),
                                             LEARNED_OUTPUT, knn, mix, {})))
        return ExportSpec(MixedPrior(learned, knn, mix), (example,), (LATLON_INPUT,), PROBABILITIES_OUTPUT, metadata,
                          atol=atol, graph=graph)


class MixedPrior(nn.Module):
    """m · P_knn + (1 − m) · P_learned computed with the kNN prior's numpy reference: the parity reference of
    an exported kNN or hybrid graph (not traceable)."""

    def __init__(self, learned: nn.Module, knn: KnnPrior, mix: float) -> None:
        super().__init__()
        self.learned, self.knn, self.mix = learned, knn, mix

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        p_knn = torch.from_numpy(self.knn.probabilities(latlon.double().numpy()))
        return (self.mix * p_knn + (1 - self.mix) * self.learned(latlon).double()).float()
