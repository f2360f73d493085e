"""Supervised image classifier (linear probe or fine-tune), optionally on a MoCo backbone; exports ONNX."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from qgis_csp_plugin.contract.schema import IMAGE_INPUT, PROBABILITIES_OUTPUT, RADIOMETRY, Kind, ModelMetadata
from trainer.data.augment import classifier_augment, standardise
from trainer.data.band_statistics import PERCENTILES
from trainer.data.bands import EUROSAT_BANDS, band_indices
from trainer.data.catalog import EUROSAT_CLASSES, known_class_colors
from trainer.errors import TrainerError
from trainer.export.spec import ExportSpec
from trainer.models.backbones import build_backbone
from trainer.tasks.base import ClassifierTask
from trainer.tasks.moco import load_moco_backbone

AUGMENTS = ("none", "geometric", "radiometric")


class SoftmaxClassifier(nn.Module):
    """Export graph: raw pixels → ``(x - mean) / std`` → backbone → linear → softmax."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, backbone: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.backbone, self.head = backbone, head

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.backbone(standardise(image, self.mean, self.std))), dim=1)


class ImageClassifierTask(ClassifierTask):
    """Image classifier on a (MoCo-pre-trained) backbone.

    Args:
        backbone: timm/torchvision name or ``trainer.models.backbones.VARIANTS`` name.
        moco_checkpoint: initialise the backbone from a MoCo checkpoint's query encoder; its first
            conv is sliced by band name when the MoCo model saw more bands (13-band → RGB).
        freeze_backbone: linear probe (frozen backbone in eval mode) instead of end-to-end fine-tuning.
        augment: ``none``, ``geometric`` (flips, rotations, crops) or ``radiometric`` (also per-band
            gain/offset jitter, re-standardisation and blur: robustness to other sensors).
        radiometry: exported ``normalization.radiometry``: ``absolute`` (Sentinel-2 DN),
            ``layer_statistics`` (the plugin matches a layer's band mean/std, e.g. Landsat RGB) or
            ``layer_percentiles`` (it matches the layer's 2nd/98th band percentiles to the training
            split's, robust to fill values and outliers).
        gsd_augment_m: with augmentation, also simulate sensors of up to this ground sample distance
            (m) resampled to ``gsd_m`` (:class:`trainer.data.augment.GsdRescale`), e.g. 30 for Landsat.
    """

    EXPORT_KINDS = (Kind.IMAGE_CLASSIFIER,)

    def __init__(self, backbone: str = "resnet10t_w32", bands: list[str] = EUROSAT_BANDS,
                 class_names: list[str] = EUROSAT_CLASSES, moco_checkpoint: str | None = None,
                 freeze_backbone: bool = False, augment: str = "geometric", radiometry: str = "absolute",
                 tile_size: int = 64, gsd_m: float = 10.0, lr: float = 1e-3, weight_decay: float = 1e-4,
                 label_smoothing: float = 0.0, name: str = "eurosat_classifier", description: str = "",
                 gsd_augment_m: float | None = None) -> None:
        super().__init__()
        if augment not in AUGMENTS:
            raise TrainerError(f"augment {augment!r} is not one of {', '.join(AUGMENTS)}")
        if radiometry not in RADIOMETRY:
            raise TrainerError(f"radiometry {radiometry!r} is not one of {', '.join(RADIOMETRY)}")
        if gsd_augment_m is not None and (gsd_augment_m < gsd_m or augment == "none"):
            raise TrainerError(f"gsd_augment_m {gsd_augment_m} needs augmentation and must be >= gsd_m {gsd_m}")
        self.save_hyperparameters()
        self.backbone = build_backbone(backbone, len(bands))
        self.head = nn.Linear(self.backbone.num_features, len(class_names))
        self.init_accuracies(len(class_names), {"train": (1,), "val": (1,), "test": (1,)})
        gsd_factor = (gsd_augment_m or gsd_m) / gsd_m
        self.augment = (classifier_augment(tile_size, augment == "radiometric", gsd_factor) if augment != "none"
                        else None)
        self.register_buffer("band_mean", torch.zeros(len(bands)))
        self.register_buffer("band_std", torch.ones(len(bands)))
        if radiometry == "layer_percentiles":  # only then: older checkpoints keep loading strictly
            self.register_buffer("band_low", torch.zeros(len(bands)))
            self.register_buffer("band_high", torch.ones(len(bands)))
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def setup(self, stage: str) -> None:
        """Normalisation statistics from the training split; MoCo weights (before any resume restore)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if stage != "fit" or datamodule is None:
            return
        if [str(b) for b in datamodule.bands] != list(self.hparams.bands):
            raise TrainerError(f"model bands {self.hparams.bands} differ from data bands {datamodule.bands}")
        if datamodule.class_names and datamodule.class_names != list(self.hparams.class_names):
            raise TrainerError(f"model class_names {self.hparams.class_names} differ from the data's "
                               f"{datamodule.class_names}")
        self.band_mean.copy_(torch.tensor(datamodule.band_mean))
        self.band_std.copy_(torch.tensor(datamodule.band_std))
        if self.hparams.radiometry == "layer_percentiles":
            self.band_low.copy_(torch.tensor(datamodule.band_low))
            self.band_high.copy_(torch.tensor(datamodule.band_high))
        if self.hparams.moco_checkpoint:
            self._load_moco(self.hparams.moco_checkpoint)

    def _load_moco(self, path: str) -> None:
        hparams, state = load_moco_backbone(path)
        if hparams.get("backbone") != self.hparams.backbone:
            raise TrainerError(f"{path} holds a {hparams.get('backbone')!r} backbone, this classifier "
                               f"uses {self.hparams.backbone!r}")
        source_bands = list(hparams.get("bands", []))
        if source_bands != list(self.hparams.bands):
            picked = band_indices(source_bands, self.hparams.bands)
            first = next(k for k, v in state.items() if v.dim() == 4 and v.shape[1] == len(source_bands))
            state[first] = state[first][:, picked] * (len(source_bands) / len(picked))
        try:
            self.backbone.load_state_dict(state)
        except RuntimeError as exc:
            raise TrainerError(f"{path} does not fit this backbone: {str(exc).splitlines()[0]}") from exc

    def on_train_epoch_start(self) -> None:
        if self.hparams.freeze_backbone:
            self.backbone.eval()  # linear probe: BatchNorm statistics stay those of pre-training

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits of raw pixels."""
        return self.head(self.backbone(self.normalise(image)))

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        return standardise(image, self.band_mean, self.band_std)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = self.normalise(batch["image"])
        if self.augment is not None:
            with torch.no_grad():
                x = self.augment(x)
        logits = self.head(self.backbone(x))
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
        self.log("train/loss", loss, prog_bar=True)
        self.log_accuracies("train", logits, batch["label"])
        return loss

    def _evaluate(self, batch: dict[str, torch.Tensor], split: str) -> None:
        logits = self(batch["image"])
        self.log(f"{split}/loss", F.cross_entropy(logits, batch["label"]), prog_bar=split == "val")
        self.log_accuracies(split, logits, batch["label"], prog_bar=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        epochs = max(1, self.trainer.max_epochs or 1)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)}

    def _normalization(self) -> dict:
        """The exported ``normalization`` (with the training percentiles for ``layer_percentiles``)."""
        norm = {"mean": self.band_mean.tolist(), "std": self.band_std.tolist(), "radiometry": self.hparams.radiometry}
        if self.hparams.radiometry == "layer_percentiles":
            norm["percentiles"] = {"q": list(PERCENTILES), "low": self.band_low.tolist(),
                                   "high": self.band_high.tolist()}
        return norm

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        hp = self.hparams
        # a CPU float32 copy: training may run on another device or precision
        module = copy.deepcopy(SoftmaxClassifier(self.band_mean, self.band_std, self.backbone, self.head))
        module = module.float().cpu().eval()
        metadata = ModelMetadata(
            kind=Kind.IMAGE_CLASSIFIER, name=options.get("name", hp.name),
            description=hp.description or f"EuroSAT land-cover classifier ({len(hp.bands)} bands, {hp.backbone})",
            class_names=list(hp.class_names), class_colors=known_class_colors(list(hp.class_names)),
            bands=list(hp.bands), tile_size=hp.tile_size, gsd_m=hp.gsd_m,
            overlap=0.0, normalization=self._normalization(),
            training={"backbone": hp.backbone, "moco_checkpoint": hp.moco_checkpoint,
                      "freeze_backbone": hp.freeze_backbone, "augment": hp.augment,
                      "gsd_augment_m": hp.get("gsd_augment_m")},
            metrics=self.heldout_metrics())
        example = self.band_mean.view(1, -1, 1, 1).expand(2, -1, hp.tile_size, hp.tile_size).cpu().clone()
        return ExportSpec(module, (example,), (IMAGE_INPUT,), PROBABILITIES_OUTPUT, metadata, atol=1e-3)

