"""CSP contrastive spatial pre-training (Mai et al. 2023) as a Lightning task.

Dual encoder: frozen image features (computed once by :class:`trainer.tasks.csp_data.CspDataModule`)
pass through a linear projection — or, with the data's ``image_encoder_trainable``, pixels pass through
the image encoder (``image_encoder``: backbone and band count, linked from the data; weights from the
data's ``image_encoder_checkpoint`` or random; band mean/std from the data) trained end to end with
the location encoder; the location encoder (:func:`trainer.encoders.build_location_encoder`)
maps (lat, lon) degrees into the same space. The loss (:class:`trainer.losses.csp.CspLoss`) combines
in-batch negatives (B), random locations uniform on the sphere (L) and SimCSE dropout positives (D)
in the NCE or MC form: CSP-NCE-BLD / CSP-MC-BLD. Exports kind ``location_encoder``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from qgis_csp_plugin.contract.schema import EMBEDDING_OUTPUT, LATLON_INPUT, Kind, ModelMetadata
from trainer.encoders import build_location_encoder
from trainer.encoders.registry import whole_encoder_class
from trainer.export.pca_basis import global_pca_basis
from trainer.export.spec import ExportSpec
from trainer.losses.csp import CspLoss, uniform_sphere_latlon
from trainer.models.backbones import load_backbone_weights
from trainer.models.frozen import frozen_backbone
from trainer.tasks.base import ExportableTask

#: CSP code defaults (iNat2018) except a smaller MLP, for minutes on a CPU.
DEFAULT_ENCODER_PARAMS: dict[str, Any] = {"frequency_num": 32, "min_radius": 0.1, "max_radius": 360.0,
                                          "hidden_dim": 256, "num_hidden_layers": 1, "out_dim": 128,
                                          "dropout": 0.5}


def with_default_params(location_encoder: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """``params`` over :data:`DEFAULT_ENCODER_PARAMS`; whole encoders (``geoclip``) keep their own defaults."""
    if whole_encoder_class(location_encoder) is not None:
        return dict(params or {})
    return {**DEFAULT_ENCODER_PARAMS, **(params or {})}


class CspTask(ExportableTask):
    """Contrastive image-location pre-training; ``feature_dim`` is the frozen image features' width.

    Args:
        location_encoder: encoder name (sphereC+, theory, ...); ``encoder_params`` its params.
        loss_form: ``mc`` (InfoNCE) or ``nce`` (binary); ``loss_weights``/``temperatures`` per
            objective B, L, D (weight 0 switches one off).
        num_random_locations: random negative locations per batch (objective L).
        lr_decay: multiplicative learning-rate decay per epoch (CSP: 0.98).
        image_encoder: ``{"backbone", "in_channels"}`` of an image encoder trained end to end (linked
            from the data; ``None``: batches hold frozen features); ``image_lr`` its learning rate
            (default ``lr``; e.g. 1e-4 to fine-tune a pre-trained MoCo encoder gently).
    """

    EXPORT_KINDS = (Kind.LOCATION_ENCODER,)

    def __init__(self, feature_dim: int = 256, location_encoder: str = "sphereC+",
                 encoder_params: dict[str, Any] | None = None, loss_form: str = "mc",
                 loss_weights: dict[str, float] | None = None, temperatures: dict[str, float] | None = None,
                 num_random_locations: int = 128, lr: float = 1e-3, weight_decay: float = 0.0,
                 lr_decay: float = 0.98, name: str = "CSP location encoder",
                 image_encoder: dict[str, Any] | None = None, image_lr: float | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        params = with_default_params(location_encoder, encoder_params)
        self.location_encoder = build_location_encoder(location_encoder, **params)
        self.image_encoder = None
        if image_encoder is not None:
            channels = int(image_encoder["in_channels"])
            self.image_encoder = frozen_backbone(image_encoder["backbone"], channels).train()
            self.register_buffer("band_mean", torch.zeros(channels))
            self.register_buffer("band_std", torch.ones(channels))
        self.image_projection = nn.Linear(feature_dim, self.location_encoder.out_dim)
        self.loss = CspLoss(loss_form, loss_weights or {"B": 1.0, "L": 1.0, "D": 1.0},
                            temperatures or {"B": 0.1, "L": 0.1, "D": 0.1})

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        """Location embeddings ``(N, D)`` of (lat, lon) degrees."""
        return self.location_encoder(latlon)

    def setup(self, stage: str) -> None:
        """End to end: the data's band statistics and initial image-encoder weights (a resumed run then
        loads its own)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.image_encoder is None or stage != "fit" or datamodule is None:
            return
        self.band_mean.copy_(torch.tensor(datamodule.band_mean))
        self.band_std.copy_(torch.tensor(datamodule.band_std))
        if datamodule.hparams.image_encoder_checkpoint:
            load_backbone_weights(self.image_encoder, datamodule.hparams.image_encoder_checkpoint)

    def pairs(self, batch: tuple[torch.Tensor, torch.Tensor] | dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latlon, image features)`` of a batch of frozen features or (end to end) of pixels."""
        if self.image_encoder is None:
            return batch
        image = (batch["image"] - self.band_mean.view(1, -1, 1, 1)) / self.band_std.view(1, -1, 1, 1)
        return batch["latlon"], self.image_encoder(image)

    def _terms(self, latlon: torch.Tensor, features: torch.Tensor) -> dict[str, torch.Tensor]:
        location = self.location_encoder(latlon)
        again = self.location_encoder(latlon) if self.loss.uses("D") else None
        random = None
        if self.loss.uses("L"):
            random = self.location_encoder(uniform_sphere_latlon(self.hparams.num_random_locations, latlon.device))
        return self.loss(location, self.image_projection(features), again, random)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor] | dict, batch_idx: int) -> torch.Tensor:
        latlon, features = self.pairs(batch)
        terms = self._terms(latlon, features)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, prog_bar=True, batch_size=len(latlon))
        return terms["loss"]

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor] | dict, batch_idx: int) -> None:
        """Loss (dropout off) and location→image retrieval top-1 within the batch."""
        latlon, features = self.pairs(batch)
        terms = self._terms(latlon, features)
        location = nn.functional.normalize(self.location_encoder(latlon), dim=1)
        image = nn.functional.normalize(self.image_projection(features), dim=1)
        hits = (location @ image.T).argmax(dim=1) == torch.arange(len(latlon), device=latlon.device)
        self.log("val/loss", terms["loss"], prog_bar=True, batch_size=len(latlon), sync_dist=True)
        self.log("val/retrieval_top1", hits.float().mean(), batch_size=len(latlon), sync_dist=True)

    def configure_optimizers(self):
        image = [] if self.image_encoder is None else list(self.image_encoder.parameters())
        chosen = {id(p) for p in image}
        groups = [{"params": [p for p in self.parameters() if p.requires_grad and id(p) not in chosen]}]
        if image:  # end to end: the image encoder may learn more gently (image_lr)
            groups.append({"params": image, "lr": self.hparams.image_lr or self.hparams.lr})
        optimizer = torch.optim.Adam(groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.hparams.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        encoder = copy.deepcopy(self.location_encoder).float().cpu().eval()
        hp = self.hparams
        metadata = ModelMetadata(
            kind=Kind.LOCATION_ENCODER, name=options.get("name", hp.name),
            description=f"CSP-{hp.loss_form.upper()} location encoder ({encoder.name}); input (lat, lon) degrees",
            location_encoder=encoder.config(), embedding_dim=encoder.out_dim,
            pca_basis=global_pca_basis(encoder),
            training={"method": "csp", "loss_form": hp.loss_form, "loss_weights": dict(self.loss.weights),
                      "temperatures": dict(self.loss.temperatures), "feature_dim": hp.feature_dim})
        example = torch.tensor([[48.85, 2.35], [-33.9, 151.2], [0.0, -180.0]])
        return ExportSpec(encoder, (example,), (LATLON_INPUT,), EMBEDDING_OUTPUT, metadata, atol=1e-4)
