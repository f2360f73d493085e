"""CSP contrastive objectives (Mai et al. 2023): in-batch (B), random locations (L), SimCSE dropout (D).

Every term compares L2-normalised embeddings by cosine similarity divided by a temperature, in one
of two forms: ``mc`` (multi-class, InfoNCE: cross-entropy over the candidates, the positive first or
on the diagonal) or ``nce`` (binary: logistic loss, positives labelled 1 and negatives 0, the
positive and the mean negative term weighted equally).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from trainer.errors import TrainerError

FORMS = ("mc", "nce")
OBJECTIVES = ("B", "L", "D")


def uniform_sphere_latlon(n: int, device: torch.device | str = "cpu",
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, 2)`` (lat, lon) degrees uniform on the sphere: lat = asin(2u - 1), lon uniform."""
    u = torch.rand(n, 2, device=device, generator=generator)
    lat = torch.asin(2 * u[:, 0] - 1) * (180.0 / math.pi)
    lon = u[:, 1] * 360.0 - 180.0
    return torch.stack([lat, lon], dim=1)


def _diagonal_loss(logits: torch.Tensor, form: str) -> torch.Tensor:
    """Rows are anchors, the matching column (diagonal) is the positive, other columns negatives."""
    if form == "mc":
        return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))
    eye = torch.eye(len(logits), device=logits.device, dtype=torch.bool)
    positive = F.binary_cross_entropy_with_logits(logits[eye], torch.ones_like(logits[eye]))
    if len(logits) == 1:
        return positive
    negative = F.binary_cross_entropy_with_logits(logits[~eye], torch.zeros_like(logits[~eye]))
    return positive + negative


def _first_positive_loss(positive: torch.Tensor, negatives: torch.Tensor, form: str) -> torch.Tensor:
    """``positive`` (N,) logits against ``negatives`` (N, K) logits of the same anchors."""
    if form == "mc":
        logits = torch.cat([positive[:, None], negatives], dim=1)
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
    return (F.binary_cross_entropy_with_logits(positive, torch.ones_like(positive))
            + F.binary_cross_entropy_with_logits(negatives, torch.zeros_like(negatives)))


@dataclass
class CspLoss:
    """Weighted sum of the selected objectives; ``weights`` keys among B, L, D (weight 0 = off).

    ``temperatures`` per objective divide the cosine similarities (logits = cos / t; a small ``t``
    sharpens). Missing temperatures default to 0.1.
    """

    form: str = "mc"
    weights: dict[str, float] = field(default_factory=lambda: {"B": 1.0, "L": 1.0, "D": 1.0})
    temperatures: dict[str, float] = field(default_factory=lambda: {"B": 0.1, "L": 0.1, "D": 0.1})

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise TrainerError(f"loss form {self.form!r} is not one of {', '.join(FORMS)}")
        for key in (*self.weights, *self.temperatures):
            if key not in OBJECTIVES:
                raise TrainerError(f"CSP objective {key!r} is not one of {', '.join(OBJECTIVES)}")
        if not any(w > 0 for w in self.weights.values()):
            raise TrainerError(f"CSP loss weights {self.weights} select no objective")
        for key, t in self.temperatures.items():
            if not t > 0:
                raise TrainerError(f"temperature for objective {key} must be > 0, got {t!r}")

    def uses(self, objective: str) -> bool:
        return self.weights.get(objective, 0.0) > 0

    def _temperature(self, objective: str) -> float:
        return self.temperatures.get(objective, 0.1)

    def __call__(self, location: torch.Tensor, image: torch.Tensor, location_again: torch.Tensor | None = None,
                 random_locations: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Terms ``B``, ``L``, ``D`` that are switched on, and their weighted ``loss``.

        ``location``/``image``: (N, D) embeddings of the same N geotagged images;
        ``location_again``: a second dropout pass over the same locations (D);
        ``random_locations``: (K, D) embeddings of random locations on the sphere (L).
        """
        loc, img = F.normalize(location, dim=1), F.normalize(image, dim=1)
        terms: dict[str, torch.Tensor] = {}
        if self.uses("B"):
            terms["B"] = _diagonal_loss(loc @ img.T / self._temperature("B"), self.form)
        if self.uses("L"):
            if random_locations is None:
                raise TrainerError("objective L needs embeddings of random locations")
            t = self._temperature("L")
            rand = F.normalize(random_locations, dim=1)
            terms["L"] = _first_positive_loss((loc * img).sum(1) / t, img @ rand.T / t, self.form)
        if self.uses("D"):
            if location_again is None:
                raise TrainerError("objective D needs a second dropout pass of the location encoder")
            again = F.normalize(location_again, dim=1)
            terms["D"] = _diagonal_loss(loc @ again.T / self._temperature("D"), self.form)
        terms["loss"] = sum(self.weights[k] * v for k, v in terms.items())
        return terms
