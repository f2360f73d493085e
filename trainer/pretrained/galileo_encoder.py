"""Galileo's released encoder (Tseng et al. 2025, "nano") on optical Sentinel-2 tiles, and its ONNX graph.

Galileo embeds space × time × band-group tokens: each group's bands are cut into ``patch_size``
square patches (one linear map per group: a strided convolution), each token gets a code
[group | timestep | month | 2-D sin-cos position scaled by the patch's ground size]; a static
(lat, lon) token may join; four transformer blocks, a LayerNorm on every token and the mean over the
kept tokens (the authors' ``average_tokens``). Here with one timestep and the groups an optical image
supplies (RGB, red edge, NIR 10 m, NIR 20 m, SWIR; NDVI and the location token optional, both off in
the authors' own evaluation of the released models, ``GalileoWrapper``); the other groups (Sentinel-1,
ERA5, TerraClimate, VIIRS, SRTM, Dynamic World, WorldCover, LandScan) are always masked, so their tokens
are left out, as the released model removes masked tokens.

The released patch kernels are 8 × 8 px; another patch size resizes them once, at import, by the
pseudo-inverse of the bicubic (antialiased) resize (FlexiViT, Beyer et al. 2023), as the released
model does at run time. Bands are normalised with the pre-training statistics (``normalization.json``):
``(x - (mean - 2 std)) / (4 std)``; NDVI is computed from the raw bands and fed as is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainer.errors import TrainerError
from trainer.pretrained.masked_transformer import MaskedBlock, key_bias, masked_mean
from trainer.pretrained.optical_inputs import (
    BANDS,
    GROUPS,
    cartesian,
    group_channels,
    group_keep,
    group_membership,
    ndvi,
    zero_missing,
)
from trainer.pretrained.release_folder import ReleaseFolder

#: The released models' ground sample distance of one pixel (m); token size = patch_size × this.
BASE_GSD_M = 10.0
#: Index of each of our groups in the released space-time channel embedding (S1, S2_RGB, ..., NDVI).
RELEASED_GROUP_INDEX = {"S2_RGB": 1, "S2_Red_Edge": 2, "S2_NIR_10m": 3, "S2_NIR_20m": 4, "S2_SWIR": 5, "NDVI": 6}
#: Index of the location group among the released static groups (LS, location, DW_static, WC_static).
RELEASED_LOCATION_INDEX = 1
#: The released bands of the space-time group statistics in normalization.json (key "13").
RELEASED_SPACE_TIME_BANDS = ["VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "NDVI"]
STD_MULTIPLIER = 2.0


def sincos(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``(M,)`` positions → ``(M, dim)`` [sin(p·ω), cos(p·ω)], ω_i = 10000^(-i / (2 dim)) for i < dim/2
    (the released model's frequencies)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32) / (2 * dim))
    angles = positions.reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def resize_patch_kernel(weight: torch.Tensor, size: int) -> torch.Tensor:
    """``(D, C, k, k)`` kernels → ``(D, C, size, size)`` that give, on a bicubically resized patch, what the
    original kernels give on the original patch (least squares: the pseudo-inverse of the resize)."""
    k = weight.shape[-1]
    if size == k:
        return weight
    basis = torch.eye(k * k).reshape(k * k, 1, k, k)
    resize = F.interpolate(basis, (size, size), mode="bicubic", antialias=True).reshape(k * k, size * size)
    return (weight.reshape(-1, k * k) @ torch.linalg.pinv(resize).T).reshape(*weight.shape[:2], size, size)


class GalileoEncoder(nn.Module):
    """Normalised bands + NDVI ``(N, 11, H, W)``, group keep flags, 0-based months, optional (lat, lon) →
    ``(N, D)``; H and W must be multiples of ``patch_size``."""

    def __init__(self, dim: int = 128, depth: int = 4, heads: int = 8, mlp_ratio: float = 4.0, patch_size: int = 8,
                 use_location: bool = False, use_ndvi: bool = False) -> None:
        super().__init__()
        self.patch_size, self.use_location, self.code_dim = patch_size, use_location, dim // 4
        self.groups = [name for name in GROUPS if use_ndvi or name != "NDVI"]
        self.patch_embed = nn.ModuleDict({name: nn.Conv2d(len(GROUPS[name]), dim, patch_size, stride=patch_size)
                                          for name in self.groups})
        self.channels = [group_channels(name) for name in self.groups]
        self.location_embed = nn.Linear(3, dim)
        self.register_buffer("group_codes", torch.zeros(len(self.groups), 2 * self.code_dim))  # [group | timestep 0]
        self.register_buffer("location_code", torch.zeros(dim))
        self.register_buffer("months", torch.zeros(12, self.code_dim))
        self.blocks = nn.ModuleList([MaskedBlock(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def spatial_codes(self, rows: int, cols: int) -> torch.Tensor:
        """``(rows, cols, code_dim)`` [sin-cos(column), sin-cos(row)] of each token, positions in units of the
        released 10 m pixel: the token's ground size is ``patch_size`` of them (input at BASE_GSD_M)."""
        half = self.code_dim // 2
        col = sincos(torch.arange(cols, dtype=torch.float32) * self.patch_size, half)  # (cols, half)
        row = sincos(torch.arange(rows, dtype=torch.float32) * self.patch_size, half)  # (rows, half)
        return torch.cat([col.unsqueeze(0) + torch.zeros_like(row[:, :1]).unsqueeze(1),
                          row.unsqueeze(1) + torch.zeros_like(col[:, :1]).unsqueeze(0)], dim=-1)

    def forward(self, image: torch.Tensor, keep: torch.Tensor, month: torch.Tensor,
                latlon: torch.Tensor | None = None) -> torch.Tensor:
        rows, cols = image.shape[2] // self.patch_size, image.shape[3] // self.patch_size
        dim, c = self.norm.normalized_shape[0], self.code_dim
        spatial = F.pad(self.spatial_codes(rows, cols).reshape(-1, c), (dim - c, 0))  # (T, D): [0 | spatial]
        month_code = F.pad(self.months[month], (2 * c, dim - 3 * c)).unsqueeze(1)  # (N, 1, D): [0 | month | 0]
        tokens = []
        for g, embed in enumerate(self.patch_embed.values()):
            patches = embed(image[:, self.channels[g]]).flatten(2).transpose(1, 2)  # (N, T, D)
            group_code = F.pad(self.group_codes[g], (0, dim - 2 * c))  # [group | timestep | 0]
            tokens.append(patches + group_code + month_code + spatial)
        x = torch.stack(tokens, dim=1)  # (N, G, T, D)
        kept = (keep.unsqueeze(1) * torch.ones_like(x[0, :, :, 0])).reshape(-1)  # (G·T,)
        x = x.flatten(1, 2)  # group-major tokens
        if self.use_location:
            if latlon is None:
                raise ValueError("this Galileo encoder embeds the location: pass latlon")
            location = self.location_embed(cartesian(latlon)) + self.location_code
            x = torch.cat([x, location.unsqueeze(1)], dim=1)
            kept = torch.cat([kept, torch.ones_like(kept[:1])])
        bias = key_bias(kept)
        for block in self.blocks:
            x = block(x, bias)
        return masked_mean(self.norm(x), kept)

    @classmethod
    def from_release(cls, release: ReleaseFolder, patch_size: int = 8, use_location: bool = False,
                     use_ndvi: bool = False) -> GalileoEncoder:
        """Our encoder with the released weights (sizes from ``config.json``), kernels resized to ``patch_size``."""
        try:
            config = release.config["model"]["encoder"]
            dim, depth = int(config["embedding_size"]), int(config["depth"])
            heads, mlp_ratio = int(config["num_heads"]), float(config["mlp_ratio"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainerError(f"{release.root}: config.json lacks model.encoder sizes ({exc})") from exc
        if not 1 <= patch_size <= 64:
            raise TrainerError(f"the patch size must lie in 1..64 px, got {patch_size}")
        state = {key.replace(".backbone", ""): value for key, value in release.state().items()}
        missing = [k for k in ("pos_embed", "s_t_channel_embed", "st_channel_embed", "month_embed.weight")
                   if k not in state]
        if missing:
            raise TrainerError(f"{release.weights} is not Galileo's encoder state dict: it lacks {', '.join(missing)}")
        encoder = cls(dim, depth, heads, mlp_ratio, patch_size, use_location, use_ndvi)
        channel, timestep0 = state["s_t_channel_embed"], state["pos_embed"][0]
        ours = {"group_codes": torch.stack([torch.cat([channel[RELEASED_GROUP_INDEX[name]], timestep0])
                                            for name in encoder.groups]),
                "location_code": torch.cat([state["st_channel_embed"][RELEASED_LOCATION_INDEX],
                                            torch.zeros(dim - encoder.code_dim)]),
                "months": state["month_embed.weight"],
                "location_embed.weight": state["static_embed.location.weight"],
                "location_embed.bias": state["static_embed.location.bias"],
                "norm.weight": state["norm.weight"], "norm.bias": state["norm.bias"]}
        for name in encoder.groups:
            ours[f"patch_embed.{name}.weight"] = resize_patch_kernel(state[f"space_time_embed.{name}.proj.weight"],
                                                                     patch_size)
            ours[f"patch_embed.{name}.bias"] = state[f"space_time_embed.{name}.proj.bias"]
        try:
            encoder.load_state_dict({**encoder.state_dict(), **ours}, strict=True)
            for i, block in enumerate(encoder.blocks):
                block.load_released(state, f"blocks.{i}.")
        except (KeyError, RuntimeError) as exc:
            raise TrainerError(f"{release.weights} does not fit Galileo's encoder (embedding {dim}, depth {depth}): "
                               f"{str(exc).splitlines()[0][:200]}") from exc
        return encoder.eval()


def band_statistics(release: ReleaseFolder) -> tuple[list[float], list[float]]:
    """Pre-training mean and std of our bands (raw Sentinel-2 DN) from the release's ``normalization.json``."""
    stats = release.read_json("normalization.json").get(str(len(RELEASED_SPACE_TIME_BANDS)))
    if not isinstance(stats, dict) or len(stats.get("mean", [])) != len(RELEASED_SPACE_TIME_BANDS):
        raise TrainerError(f"{release.root}/normalization.json lacks the {len(RELEASED_SPACE_TIME_BANDS)} space-time "
                           "band statistics (key '13')")
    names = [("B" + b[1:].lstrip("0")) if b != "B8A" else b for b in BANDS]  # B02 → B2
    index = [RELEASED_SPACE_TIME_BANDS.index(name) for name in names]
    return [float(stats["mean"][i]) for i in index], [float(stats["std"][i]) for i in index]


class GalileoImageGraph(nn.Module):
    """The exported graph: ``image`` raw DN (N, C, H, W), ``band_mask`` (C,), [``latlon`` (N, 2) degrees],
    ``month`` (N,) 1-12 → ``embedding`` (N, D)."""

    def __init__(self, encoder: GalileoEncoder, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("membership", group_membership(encoder.groups))
        mean_t, std_t = torch.tensor(mean), torch.tensor(std)
        self.register_buffer("shift", (mean_t - STD_MULTIPLIER * std_t).reshape(1, -1, 1, 1))
        self.register_buffer("scale", (2 * STD_MULTIPLIER * std_t).reshape(1, -1, 1, 1))

    def forward(self, image: torch.Tensor, band_mask: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        latlon, month = rest if self.encoder.use_location else (None, rest[0])
        raw = zero_missing(image, band_mask)
        stacked = torch.cat([(raw - self.shift) / self.scale, ndvi(raw)], dim=1)
        return self.encoder(stacked, group_keep(band_mask, self.membership), month - 1, latlon)

