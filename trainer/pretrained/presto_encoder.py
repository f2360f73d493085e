"""Presto's released encoder (Tseng et al. 2023) on optical Sentinel-2 pixels, and its ONNX graph.

Presto embeds one pixel's timeseries: one token per band group and timestep (a linear map of the
group's normalised bands plus a [month | group | timestep] code), one (lat, lon) token, two
transformer blocks, the mean over the kept tokens and a LayerNorm. Here with one timestep and the
groups an optical image supplies (RGB, red edge, NIR 10 m, NIR 20 m, SWIR, NDVI); its other groups
(Sentinel-1, ERA5, SRTM, Dynamic World) are always masked, so their tokens are left out, as the
released model removes masked tokens. Reflectance is the Sentinel-2 digital number / 10000.

:class:`PrestoImageGraph` is what the ONNX file computes: raw Sentinel-2 values ``(N, C, H, W)``,
a band mask, the tile centres and months → every pixel embedded → the mean embedding of each tile.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainer.errors import TrainerError
from trainer.pretrained.masked_transformer import MaskedBlock, key_bias, masked_mean
from trainer.pretrained.optical_inputs import (
    GROUPS,
    cartesian,
    group_channels,
    group_keep,
    group_membership,
    ndvi,
    zero_missing,
)
from trainer.pretrained.release_folder import ReleaseFolder

#: Reflectance = digital number / REFLECTANCE_SCALE (Presto's Sentinel-2 normalisation).
REFLECTANCE_SCALE = 10000.0
#: Index of each of our groups in the released channel embedding (S1, S2_RGB, ..., ERA5, SRTM, NDVI, DW).
RELEASED_GROUP_INDEX = {"S2_RGB": 1, "S2_Red_Edge": 2, "S2_NIR_10m": 3, "S2_NIR_20m": 4, "S2_SWIR": 5, "NDVI": 8}
PREFIX = "encoder."


class PrestoEncoder(nn.Module):
    """Pixels ``(P, 11)`` (10 reflectances + NDVI), group keep flags, (lat, lon), 0-based month → ``(P, D)``."""

    def __init__(self, dim: int = 128, depth: int = 2, heads: int = 8, mlp_ratio: float = 4.0,
                 month_dim: int = 32) -> None:
        super().__init__()
        self.group_embed = nn.ModuleDict({name: nn.Linear(len(bands), dim) for name, bands in GROUPS.items()})
        self.channels = [group_channels(name) for name in GROUPS]
        self.latlon_embed = nn.Linear(3, dim)
        self.register_buffer("group_codes", torch.zeros(len(GROUPS), dim - month_dim))  # [group | timestep 0]
        self.register_buffer("months", torch.zeros(12, month_dim))
        self.blocks = nn.ModuleList([MaskedBlock(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, pixels: torch.Tensor, keep: torch.Tensor, latlon: torch.Tensor,
                month: torch.Tensor) -> torch.Tensor:
        month_code = F.pad(self.months[month], (0, self.group_codes.shape[1]))  # (P, D): [month | 0]
        tokens = [self.latlon_embed(cartesian(latlon))]
        for g, embed in enumerate(self.group_embed.values()):
            group_code = F.pad(self.group_codes[g], (self.months.shape[1], 0))  # (D,): [0 | group | timestep]
            tokens.append(embed(pixels[:, self.channels[g]]) + month_code + group_code)
        x = torch.stack(tokens, dim=1)  # (P, 1 + G, D): the location token first
        kept = torch.cat([torch.ones_like(keep[:1]), keep])
        bias = key_bias(kept)
        for block in self.blocks:
            x = block(x, bias)
        return self.norm(masked_mean(x, kept))

    @classmethod
    def from_release(cls, release: ReleaseFolder) -> PrestoEncoder:
        """Our encoder with the released weights (sizes from its ``default_config.json``)."""
        config = release.config
        try:
            dim, depth = int(config["encoder_embedding_size"]), int(config["encoder_depth"])
            heads, mlp_ratio = int(config["encoder_num_heads"]), float(config["mlp_ratio"])
            month_dim = int(dim * float(config["month_embed_ratio"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainerError(f"{release.root}: default_config.json lacks the encoder sizes ({exc})") from exc
        state = release.state()
        missing = [k for k in ("pos_embed", "channel_embed.weight", "month_embed.weight", "latlon_embed.weight")
                   if PREFIX + k not in state]
        if missing:
            raise TrainerError(f"{release.weights} is not Presto's state dict: it lacks {', '.join(missing)}")
        encoder = cls(dim, depth, heads, mlp_ratio, month_dim)
        channel = state[PREFIX + "channel_embed.weight"]
        timestep0 = state[PREFIX + "pos_embed"][0, 0]
        codes = torch.stack([torch.cat([channel[RELEASED_GROUP_INDEX[name]], timestep0]) for name in GROUPS])
        ours = {"group_codes": codes, "months": state[PREFIX + "month_embed.weight"],
                "latlon_embed.weight": state[PREFIX + "latlon_embed.weight"],
                "latlon_embed.bias": state[PREFIX + "latlon_embed.bias"],
                "norm.weight": state[PREFIX + "norm.weight"], "norm.bias": state[PREFIX + "norm.bias"]}
        for name in GROUPS:
            for t in ("weight", "bias"):
                ours[f"group_embed.{name}.{t}"] = state[f"{PREFIX}eo_patch_embed.{name}.{t}"]
        try:
            encoder.load_state_dict({**encoder.state_dict(), **ours}, strict=True)
            for i, block in enumerate(encoder.blocks):
                block.load_released(state, f"{PREFIX}blocks.{i}.")
        except (KeyError, RuntimeError) as exc:
            raise TrainerError(f"{release.weights} does not fit Presto's encoder of {default_sizes(config)}: "
                               f"{str(exc).splitlines()[0][:200]}") from exc
        return encoder.eval()


def default_sizes(config: dict) -> str:
    return ", ".join(f"{k}={config.get(k)}" for k in ("encoder_embedding_size", "encoder_depth", "encoder_num_heads"))


class PrestoImageGraph(nn.Module):
    """The exported graph: ``image`` raw DN (N, C, H, W), ``band_mask`` (C,), ``latlon`` (N, 2) degrees,
    ``month`` (N,) 1-12 → ``embedding`` (N, D), the mean of the tile's pixel embeddings."""

    def __init__(self, encoder: PrestoEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("membership", group_membership(list(GROUPS)))

    def forward(self, image: torch.Tensor, band_mask: torch.Tensor, latlon: torch.Tensor,
                month: torch.Tensor) -> torch.Tensor:
        n, c, h, w = image.shape
        reflectance = zero_missing(image, band_mask) / REFLECTANCE_SCALE
        stacked = torch.cat([reflectance, ndvi(reflectance)], dim=1)
        pixels = stacked.permute(0, 2, 3, 1).reshape(n * h * w, c + 1)
        per_pixel = h * w
        pixel_latlon = latlon.unsqueeze(1).expand(n, per_pixel, 2).reshape(-1, 2)
        pixel_month = (month - 1).unsqueeze(1).expand(n, per_pixel).reshape(-1)
        keep = group_keep(band_mask, self.membership)
        embeddings = self.encoder(pixels, keep, pixel_latlon, pixel_month)
        dim = self.encoder.norm.normalized_shape[0]
        return embeddings.reshape(n, per_pixel, dim).mean(dim=1).reshape(-1, dim)
