"""Band orders of the data products and by-name band selection (orders differ between products)."""

from __future__ import annotations

from qgis_csp_plugin.contract.bands import aliases
from trainer.errors import TrainerError

#: EuroSAT MS GeoTIFF order (B8A last).
EUROSAT_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
#: SSL4EO-S12 L2A order (no B10).
SSL4EO_L2A_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


def band_indices(available: tuple[str, ...] | list[str], wanted: tuple[str, ...] | list[str]) -> list[int]:
    """Positions of ``wanted`` bands in ``available`` (aliases such as ``red`` resolved)."""
    lookup = {name: i for i, name in enumerate(available)}
    indices = []
    for name in wanted:
        found = [lookup[alias] for alias in aliases(name) if alias in lookup]
        if not found:
            raise TrainerError(f"band {name!r} is not in this product's bands {list(available)}")
        indices.append(found[0])
    return indices
