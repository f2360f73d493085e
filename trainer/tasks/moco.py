"""Geography-aware MoCo-v2 (Ayush et al., ICCV 2021): MoCo-v2 + temporal positives + geo pretext.

Variants: ``moco`` (MoCo-v2), ``moco_geo`` (+ K-means location-cluster classification on the query
projection, loss = MoCo + λ·CE), ``moco_tp`` (key view from another date of the same location; the
datamodule's ``key_view: temporal``) and ``moco_geo_tp``. Key-encoder BatchNorm under DDP (``key_bn``):
``shuffle`` (MoCo-v1/v2 shuffle-BN, any backend), ``sync`` (SyncBatchNorm, GPUs only) or ``local``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from qgis_csp_plugin.contract.bands import S2_BANDS
from qgis_csp_plugin.contract.schema import EMBEDDING_OUTPUT, IMAGE_INPUT, Kind, ModelMetadata
from trainer.checkpoints import read_checkpoint, strip_prefix
from trainer.data.augment import moco_v2_augment, standardise
from trainer.errors import TrainerError
from trainer.export.spec import ExportSpec
from trainer.losses.moco import KeyQueue, moco_logits, momentum_update
from trainer.models.backbones import build_backbone
from trainer.models.kmeans import assign_clusters, spherical_kmeans
from trainer.models.projection import projection_head
from trainer.models.shuffle_bn import shuffle_bn_forward
from trainer.tasks.base import ExportableTask

VARIANTS = ("moco", "moco_geo", "moco_tp", "moco_geo_tp")
KEY_BN = ("shuffle", "sync", "local")


class Encoder(nn.Module):
    """Backbone + MLP projection; ``forward`` returns the (unnormalised) projection."""

    def __init__(self, backbone: nn.Module, out_features: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = projection_head(backbone.num_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class ImageEncoder(nn.Module):
    """Export graph: raw pixels → ``(x - mean) / std`` → backbone features (the embedding)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, backbone: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.backbone = backbone

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone(standardise(image, self.mean, self.std))


class MocoTask(ExportableTask):
    """MoCo-v2 pre-training; the query backbone (``encoder_q.backbone.*``) feeds classifiers and CSP.

    Args:
        variant: one of ``moco, moco_geo, moco_tp, moco_geo_tp`` (``*_tp`` needs the datamodule's
            ``key_view: temporal``; the MoCo CLI links it).
        backbone: timm/torchvision name (random init) or a name in ``trainer.models.backbones.VARIANTS``;
            ``backbone_checkpoint`` optionally initialises it from a local file.
        bands: input band names (the first conv has ``len(bands)`` channels); per-band mean/std are
            taken from the datamodule's training split and stored in the checkpoint.
        gsd_m: ground sample distance of the training images (m/px), recorded in exported encoders.
        geo_clusters: K of the spherical K-means on training (lat, lon); ``geo_weight`` is λ.
        key_bn: how the key encoder's BatchNorm sees the batch under DDP: ``shuffle`` (default;
            shuffle-BN: keys are encoded in a random cross-process shard, so a key and its query
            never share BatchNorm statistics), ``sync`` (the key encoder's BatchNorm layers become
            ``torch.nn.SyncBatchNorm``: statistics of the global batch; torch supports it on GPUs
            only) or ``local`` (per-process statistics). All three are the same in one process.
    """

    EXPORT_KINDS = (Kind.IMAGE_ENCODER,)

    def __init__(self, variant: str = "moco", backbone: str = "resnet50", backbone_checkpoint: str | None = None,
                 bands: list[str] = S2_BANDS, tile_size: int = 64, gsd_m: float = 10.0, proj_dim: int = 128,
                 queue_size: int = 65536, momentum: float = 0.999, temperature: float = 0.2,
                 geo_clusters: int = 100, geo_weight: float = 1.0, lr: float = 0.03, weight_decay: float = 1e-4,
                 sgd_momentum: float = 0.9, key_bn: str = "shuffle", seed: int = 0) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise TrainerError(f"variant {variant!r} is not one of {', '.join(VARIANTS)}")
        if key_bn not in KEY_BN:
            raise TrainerError(f"key_bn {key_bn!r} is not one of {', '.join(KEY_BN)}")
        if not 0.0 <= momentum < 1.0 or temperature <= 0 or queue_size < 1:
            raise TrainerError(f"need 0 <= momentum < 1, temperature > 0, queue_size >= 1; got "
                               f"{momentum}, {temperature}, {queue_size}")
        self.save_hyperparameters()
        self.geo = variant in ("moco_geo", "moco_geo_tp")
        self.encoder_q = Encoder(build_backbone(backbone, len(bands), backbone_checkpoint), proj_dim)
        self.encoder_k = copy.deepcopy(self.encoder_q).requires_grad_(False)
        self.queue = KeyQueue(queue_size, proj_dim)
        self.geo_head = nn.Sequential(nn.ReLU(), nn.Linear(proj_dim, geo_clusters)) if self.geo else None
        self.register_buffer("cluster_centres", torch.zeros(geo_clusters if self.geo else 0, 3))
        self.register_buffer("band_mean", torch.zeros(len(bands)))
        self.register_buffer("band_std", torch.ones(len(bands)))
        self.augment = moco_v2_augment(tile_size)

    def setup(self, stage: str) -> None:
        """Key-encoder SyncBN under DDP; normalisation statistics and (geo) cluster centres from the data."""
        if self.hparams.key_bn == "sync" and self.trainer.world_size > 1:
            if self.trainer.strategy.root_device.type == "cpu":
                raise TrainerError("key_bn: sync needs GPUs (torch's SyncBatchNorm refuses CPU tensors); "
                                   "use key_bn: shuffle on CPU")
            self.encoder_k = nn.SyncBatchNorm.convert_sync_batchnorm(self.encoder_k)
        datamodule = getattr(self.trainer, "datamodule", None)
        if stage != "fit" or datamodule is None:
            return
        if list(datamodule.bands) != list(self.hparams.bands):
            raise TrainerError(f"model bands {self.hparams.bands} differ from data bands {datamodule.bands}")
        self.band_mean.copy_(torch.tensor(datamodule.band_mean))
        self.band_std.copy_(torch.tensor(datamodule.band_std))
        n_train = len(datamodule.train_latlon)
        if self.hparams.queue_size > n_train - datamodule.hparams.batch_size:
            rank_zero_warn(f"queue_size {self.hparams.queue_size} is not below the {n_train} training images "
                           "minus a batch: the queue holds keys of the query images themselves as negatives")
        if self.geo:
            centres = spherical_kmeans(datamodule.train_latlon, self.hparams.geo_clusters, self.hparams.seed)
            self.cluster_centres.copy_(torch.from_numpy(centres))

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        return standardise(image, self.band_mean, self.band_std)

    def moco_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One MoCo step without logging or enqueueing: ``(loss, keys, metrics)``."""
        if "key" not in batch:
            raise TrainerError("MoCo needs key views: set the datamodule's key_view to augment or temporal")
        with torch.no_grad():
            query_view = self.augment(self.normalise(batch["image"]))
            key_view = self.augment(self.normalise(batch["key"]))
            momentum_update(self.encoder_k, self.encoder_q, self.hparams.momentum)
            k = F.normalize(self.encode_keys(key_view), dim=1)
        z = self.encoder_q(query_view)
        logits = moco_logits(F.normalize(z, dim=1), k, self.queue.keys.clone(), self.hparams.temperature)
        target = torch.zeros(k.shape[0], dtype=torch.long, device=k.device)
        loss = moco = F.cross_entropy(logits, target)
        metrics = {"moco_loss": moco, "instance_acc": (logits.argmax(1) == 0).float().mean()}
        if self.geo:
            clusters = assign_clusters(batch["latlon"], self.cluster_centres)
            metrics["geo_loss"] = F.cross_entropy(self.geo_head(z), clusters)
            loss = moco + self.hparams.geo_weight * metrics["geo_loss"]
        return loss, k, metrics

    def encode_keys(self, key_view: torch.Tensor) -> torch.Tensor:
        """Key projections of ``key_view``, row for row (through shuffle-BN when ``key_bn`` is shuffle)."""
        if self.hparams.key_bn == "shuffle":
            return shuffle_bn_forward(self.encoder_k, key_view)
        return self.encoder_k(key_view)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, k, metrics = self.moco_step(batch)
        self.log_dict({f"train/{name}": value for name, value in metrics.items()})
        self.log("train/loss", loss, prog_bar=True)
        self.queue.enqueue(self.all_gather(k).reshape(-1, k.shape[1]))
        return loss

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=self.hparams.lr, momentum=self.hparams.sgd_momentum,
                                    weight_decay=self.hparams.weight_decay)
        steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(steps):
            raise TrainerError("the cosine learning-rate schedule needs trainer.max_epochs or trainer.max_steps")
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, int(steps)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        """The query backbone (without the projection head) as an ``image_encoder``: raw pixels → features."""
        hp = self.hparams
        module = copy.deepcopy(ImageEncoder(self.band_mean, self.band_std, self.encoder_q.backbone))
        module = module.float().cpu().eval()
        metadata = ModelMetadata(
            kind=Kind.IMAGE_ENCODER, name=options.get("name", f"MoCo image encoder ({hp.variant}, {hp.backbone})"),
            description=f"self-supervised {hp.variant} image encoder ({len(hp.bands)} bands, {hp.backbone}); "
                        "train a classifier on its embeddings with csp:train_classifier",
            bands=list(hp.bands), tile_size=hp.tile_size, gsd_m=float(hp.gsd_m), overlap=0.0,
            normalization={"mean": self.band_mean.tolist(), "std": self.band_std.tolist(), "radiometry": "absolute"},
            embedding_dim=int(self.encoder_q.backbone.num_features),
            training={"method": hp.variant, "backbone": hp.backbone, "epochs": int(self.current_epoch),
                      "queue_size": hp.queue_size, "temperature": hp.temperature})
        example = self.band_mean.view(1, -1, 1, 1).expand(2, -1, hp.tile_size, hp.tile_size).cpu().clone()
        return ExportSpec(module, (example,), (IMAGE_INPUT,), EMBEDDING_OUTPUT, metadata, atol=1e-3)


def load_moco_backbone(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(hyper-parameters, query-backbone state dict)`` of a MoCo checkpoint, for downstream tasks."""
    checkpoint = read_checkpoint(path, "MoCo checkpoint")
    prefix = "encoder_q.backbone."
    state = strip_prefix(checkpoint.get("state_dict", {}), prefix)
    if not state:
        raise TrainerError(f"{path} is not a MoCo checkpoint (no {prefix}* weights)")
    return dict(checkpoint.get("hyper_parameters", {})), state
